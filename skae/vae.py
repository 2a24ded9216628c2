"""VAETransformer: a variational autoencoder as an sklearn transformer."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._estimators.base import BaseAutoencoder
from ._nn.losses import LIKELIHOODS, elementwise_nll, gaussian_kl
from ._nn.networks import VariationalAutoencoder


class VAETransformer(BaseAutoencoder):
    """Variational autoencoder with a diagonal Gaussian posterior, trained on the ELBO.

    The encoder gives the mean and log-variance of q(z|x); a latent sample
    ``z = mean + sigma * eps`` (the reparameterisation trick) is decoded into the
    parameters of p(x|z); training maximises the evidence lower bound
    ``E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))``, with an optional linear warm-up of
    the KL weight. Put a ``StandardScaler`` before it (``likelihood="gaussian"``) or a
    ``MinMaxScaler`` (``likelihood="bernoulli"``) in a Pipeline.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent space.
    hidden_layer_sizes : tuple of int, default=(64, 32)
        Widths of the encoder's hidden layers; the decoder uses them in reverse.
    activation : {"relu", "leaky_relu", "prelu", "selu", "elu", "gelu", "tanh", \
"identity"}, default="relu"
        Activation of the hidden layers.
    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        p(x|z): a unit-variance Gaussian whose mean the decoder outputs, or a Bernoulli
        whose logits it outputs (data in [0, 1]).
    beta : float, default=1.0
        Weight of the KL term in the training objective (beta-VAE).
    kl_warmup_epochs : int, default=0
        Grow the KL weight linearly from ``beta / kl_warmup_epochs`` to ``beta`` over this
        many epochs (0: no warm-up).
    noise_std : float, default=0.0
        Gaussian noise added to the inputs during training only.
    loss_trim : float, default=0.0
        Robust training: after the first 2 epochs, leave the ``loss_trim`` share of
        worst-reconstructed rows of each minibatch out of the loss (for training data
        that contains anomalies, as in outlier detection).
    dropout : float, default=0.0
        Dropout rate after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    solver : {"adam", "adamw", "sgd"}, default="adam"
        Optimiser.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        Schedule of the learning rate. "adaptive": when the monitored loss has not
        improved for ``n_iter_no_change`` epochs, halve the rate and go on, up to three
        times; training stops at the next such plateau (so the loss settles instead of
        stopping at the first flat stretch). "constant": stop at the first plateau.
        ``partial_fit`` always trains at ``learning_rate_init``.
    learning_rate_init : float, default=1e-3
        The (initial) learning rate.
    alpha : float or "auto", default=0.0
        L2 penalty on the weights (a Gaussian prior on them). "auto": a prior of fixed
        precision, ``alpha = 1.6 * v / n_train`` with v the mean variance of the
        training columns, as for :class:`~skae.AutoencoderTransformer`.
    batch_size : int or "auto", default="auto"
        Minibatch size (clipped to the number of training rows). "auto": about 16
        minibatches an epoch, between 32 and 256 rows (wine's 160 training rows get 32,
        tables of 4,000 rows or more 256).
    max_iter : int or "auto", default="auto"
        Maximum number of epochs. "auto": the epochs of about 30,000 optimiser steps,
        between 50 and 5,000; the stopping rule ends almost every fit long before. A
        ConvergenceWarning says when the cap was reached with the loss still falling.
    shuffle : bool, default=True
        Reshuffle the rows every epoch.
    early_stopping : bool, default=True
        Stop on the validation loss (the beta-weighted negative ELBO, evaluated at the
        posterior mean) and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=10
        Patience, in epochs.
    tol : float, default=1e-4
        Minimum *relative* decrease of the monitored loss that counts as progress:
        training stops when the loss has not fallen below ``(1 - tol)`` times the loss
        of the last epoch that did for ``n_iter_no_change`` epochs (so a loss still
        falling slowly goes on), a rule that does not depend on how the data is scaled.
    device : str or torch.device, default="auto"
        "auto" trains on CUDA when available, else on the CPU.
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs training forward passes under bf16 autocast (weights, optimiser
        and inference stay float32): faster on GPUs with bf16 tensor cores, slower on
        most CPUs at small batch sizes.
    n_jobs : int, default=None
        CPU threads torch uses for training and inference; -1 uses all cores. None
        chooses per call, as in :class:`AutoencoderTransformer`.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the split, dropout and the reparameterisation
        noise, from generators of the fit's own (torch's global RNG is never used).
    verbose : int, default=0
        1 shows a progress bar with the current losses.
    warm_start : bool, default=False
        When True, ``fit`` continues from the current weights; see
        :class:`AutoencoderTransformer` for which parameter changes apply and which
        rebuild the network.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (:class:`skae._nn.networks.VariationalAutoencoder`), on CPU.
    loss_curve_ : list of float
        Mean training loss (negative beta-ELBO per sample) of each epoch.
    validation_loss_curve_ : list of float or None
        Validation loss of each epoch (None without early stopping).
    best_epoch_ : int
        Epoch (0-based) whose weights the network holds.
    n_iter_ : int
        Number of epochs run.
    noise_variance_ : ndarray of shape (n_features_in_,)
        For ``likelihood="gaussian"``: each feature's residual variance on the training
        rows (mean squared reconstruction error at the posterior mean), the noise
        :meth:`sample` draws with.
    device_ : str
        Device the network was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    AutoencoderTransformer : The deterministic autoencoder.

    Notes
    -----
    Every inference method is deterministic: ``transform`` returns the posterior mean,
    ``inverse_transform`` decodes to the likelihood's mean, and ``score_samples`` returns
    the ELBO (beta = 1) with the reconstruction term evaluated at the posterior mean, in
    nats per sample. Only :meth:`sample` draws random numbers: by default rows drawn from
    the likelihood (noise included, 0/1 for "bernoulli"); ``from_likelihood=False`` gives
    the decoded mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import VAETransformer
    >>> X = np.random.RandomState(0).normal(size=(200, 6))
    >>> vae = VAETransformer(n_components=2, max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X[:4]).shape
    (4, 2)
    >>> vae.sample(3, random_state=0).shape
    (3, 6)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "likelihood": [StrOptions(set(LIKELIHOODS))],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        likelihood="gaussian",
        beta=1.0,
        kl_warmup_epochs=0,
        noise_std=0.0,
        loss_trim=0.0,
        dropout=0.0,
        batch_norm=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        alpha=0.0,
        batch_size="auto",
        max_iter="auto",
        shuffle=True,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        precision="float32",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            noise_std=noise_std,
            loss_trim=loss_trim,
            dropout=dropout,
            batch_norm=batch_norm,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            alpha=alpha,
            batch_size=batch_size,
            max_iter=max_iter,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            device=device,
            precision=precision,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.likelihood = likelihood
        self.beta = beta
        self.kl_warmup_epochs = kl_warmup_epochs

    _ARCHITECTURE = (*BaseAutoencoder._ARCHITECTURE, "likelihood")

    def _build_module(self, n_features, generator):
        return VariationalAutoencoder(
            n_features,
            self._hidden_sizes(),
            self.n_components,
            activation=self.activation,
            likelihood=self.likelihood,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            generator=generator,
        )

    def _check_training_data(self, X):
        if self.likelihood == "bernoulli":
            self._check_bounded_01(X, "likelihood='bernoulli'")

    def _kl_weight(self, epoch):
        if self.kl_warmup_epochs:
            return self.beta * min(1.0, (epoch + 1) / self.kl_warmup_epochs)
        return self.beta

    def _train_loss(self, module, x, epoch):
        logits, mean, log_var = module(self._noisy(x))
        nll = elementwise_nll(self.likelihood, logits, x).sum(dim=-1)
        return self._reduce(nll + self._kl_weight(epoch) * gaussian_kl(mean, log_var), epoch)

    def _elbo_terms(self, module, x):
        """Deterministic ELBO parts: elementwise NLL at the posterior mean, the mean, KL."""
        mean, log_var = module.encode(x)
        nll = elementwise_nll(self.likelihood, module.decoder(mean), x)
        return nll, mean, gaussian_kl(mean, log_var)

    def _eval_loss(self, module, x):
        nll, _, kl = self._elbo_terms(module, x)
        return nll.sum(dim=-1) + self.beta * kl  # the training objective, beta included

    def _stack_spec(self):
        """VAEs never stack: the stacked network (:mod:`skae._nn.stacked`) has one linear
        code layer per member, a VAE's encoder two heads (mean, log-variance) and a
        sampling step. A VAE in an ensemble trains and scores alone."""
        return None

    def _member_outputs(self, module, x):
        nll, mean, kl = self._elbo_terms(module, x)
        return nll, mean, -(nll.sum(dim=-1) + kl)  # the ELBO (beta = 1)

    def _encode_tensor(self, module, x):
        return module.encode(x)[0]

    def _after_training(self, module, X32, partial):
        """Gaussian: each feature's residual variance on the rows trained on, which
        :meth:`sample` draws its noise with."""
        if self.likelihood == "gaussian":
            self.noise_variance_ = _residual_variance(module, X32)

    @validate_params(
        {
            "n_samples": [Interval(Integral, 1, None, closed="left")],
            "random_state": ["random_state"],
            "from_likelihood": ["boolean"],
        },
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None, *, from_likelihood=True):
        """Draw new rows: codes from the N(0, I) prior, decoded, then drawn from the
        likelihood at the decoded parameters.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (codes and likelihood).
        from_likelihood : bool, default=True
            True draws each row from the likelihood, as a generative model's sample does
            (and :meth:`sklearn.mixture.GaussianMixture.sample`): for "gaussian", the
            decoded mean plus Gaussian noise with each feature's residual variance on
            the training rows (``noise_variance_``); for "bernoulli", 0/1 values drawn
            with the decoded probabilities. False returns the decoded mean itself (for
            "bernoulli", probabilities), which is narrower than the data: the spread the
            decoder leaves unexplained is missing.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_), dtype float32
            The drawn rows.

        Notes
        -----
        The network trains with a unit-variance Gaussian (its loss is the squared error,
        whatever the variance: only the KL term's weight depends on it), so the variance
        ``sample`` draws with is the one the fitted decoder implies, the mean squared
        reconstruction error of each feature at the posterior mean on the rows of the
        last ``fit`` (or ``partial_fit`` chunk).
        """
        check_is_fitted(self)
        rng = check_random_state(random_state)
        # the fitted width: n_components may have been changed since by set_params
        Z = rng.standard_normal((n_samples, self._n_features_out))
        mean = self._map(self._decode_tensor, Z)
        if from_likelihood and self.likelihood == "bernoulli":
            mean = rng.uniform(size=mean.shape) < mean
        elif from_likelihood:
            mean = mean + rng.standard_normal(mean.shape) * np.sqrt(self.noise_variance_)
        return mean.astype(np.float32)


_RESIDUAL_ROWS = 20_000  # rows (evenly spaced) the residual variance is measured on


def _residual_variance(module, X32):
    """Each feature's mean squared reconstruction error at the posterior mean, float64."""
    import copy

    import torch

    step = max(1, len(X32) // _RESIDUAL_ROWS)
    x = torch.from_numpy(np.ascontiguousarray(X32[::step][:_RESIDUAL_ROWS])).double()
    net = copy.deepcopy(module).cpu().double().eval()
    with torch.no_grad():
        reconstruction = net.activate(net.decoder(net.encode(x)[0]))
    return (x - reconstruction).square().mean(dim=0).numpy()
