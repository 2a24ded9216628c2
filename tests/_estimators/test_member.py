"""skae._estimators.member: what members share to train and score as one stack."""

from skae import AutoencoderTransformer, VAETransformer


def test_autoencoders_differing_in_widths_codes_and_seeds_share_a_spec():
    a = AutoencoderTransformer(3, hidden_layer_sizes=(16,), random_state=0)
    b = AutoencoderTransformer(5, hidden_layer_sizes=(32,), random_state=1, verbose=1)
    assert a._stack_spec() == b._stack_spec() is not None
    assert (
        a._stack_spec()
        != AutoencoderTransformer(3, hidden_layer_sizes=(16,), alpha=1e-3)._stack_spec()
    )
    assert a._stack_spec().depth == 1 and a._stack_spec().loss == "mse"


def test_what_never_stacks():
    assert VAETransformer()._stack_spec() is None  # two encoder heads and a sampling step
    assert AutoencoderTransformer(dropout=0.1)._stack_spec() is None
    assert AutoencoderTransformer(batch_norm=True)._stack_spec() is None
    assert AutoencoderTransformer(activation="prelu")._stack_spec() is None


def test_depths_merge_for_scoring_where_the_activation_allows_identity_layers():
    one = AutoencoderTransformer(hidden_layer_sizes=(16,), activation="relu")._stack_spec()
    two = AutoencoderTransformer(hidden_layer_sizes=(16, 8), activation="relu")._stack_spec()
    assert one != two and one.scoring_key() == two.scoring_key()
    tanh = [
        AutoencoderTransformer(hidden_layer_sizes=h, activation="tanh") for h in [(16,), (16, 8)]
    ]
    assert tanh[0]._stack_spec().scoring_key() != tanh[1]._stack_spec().scoring_key()
