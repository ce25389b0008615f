"""Edit directions, one method per file: SeFa (closed form from the affine weights), GANSpace (PCA of w) and
InterFaceGAN (a linear SVM on scored samples)."""
from .ganspace import ganspace, ganspace_pca
from .interfacegan import interfacegan, project_boundary, train_boundary
from .sefa import sefa, sefa_factorize, sefa_layers, sefa_matrix

__all__ = ["interfacegan", "project_boundary", "train_boundary", "sefa", "sefa_factorize", "sefa_layers",
           "sefa_matrix", "ganspace", "ganspace_pca"]
