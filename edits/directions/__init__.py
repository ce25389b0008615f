"""Edit directions, one method per file: SeFa (closed form from the affine weights) and GANSpace (PCA of w)."""
from .ganspace import ganspace, ganspace_pca
from .sefa import sefa, sefa_factorize, sefa_layers, sefa_matrix

__all__ = ["sefa", "sefa_factorize", "sefa_layers", "sefa_matrix", "ganspace", "ganspace_pca"]
