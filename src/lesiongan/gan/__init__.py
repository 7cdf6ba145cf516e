"""Class-conditional progressive GAN (Karras et al., "Progressive Growing of GANs", ICLR 2018)."""
