"""The torch networks and the tensor maths around them: one definition of each network.

``networks`` (MLP blocks, the autoencoder, the Gaussian-encoder VAE), ``losses``
(reconstruction losses, likelihoods, the KL term), ``random`` (the private random streams
of a fit), ``stacked`` (several autoencoders as one network of batched products, for
training) and ``block_diagonal`` (several autoencoders as one MLP of block-diagonal layers,
for single-row scoring). Training (``skae._train``), the estimators, the detector's scorer
and the ONNX export all use these modules, so what is exported is what was trained.
"""
