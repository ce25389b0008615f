"""`python -m stylegan.train ...` (the form torchrun runs): same options as `sgt train`."""
from stylegan.train.cli import train

if __name__ == "__main__":
    train()
