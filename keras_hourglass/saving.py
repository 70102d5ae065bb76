"""`.keras` files that plain `keras.saving.load_model(path)` reloads in any
fresh process, on any backend (safe mode, no custom objects).

`model.save` of a compiled model also writes the compile config, which names
the loss by its registered name, `keras_hourglass>joint_heatmap_mse`. Keras
finds a registered function only in a process that has imported the module
registering it, so any other process fails with "Could not locate function".
No stock Keras loss can stand in: ours averages each joint's squared error
over the heatmap pixels and weights it per joint (`sample_weight` [B, K]),
while the stock mean squared error averages over the last axis, the joints,
before any weight applies.

So the project's `.keras` files hold the architecture and the weights, as
`compile=False` would load them. The training state (optimizer slots, step,
learning rate) lives in a run's crash backup, which is what a resumed run
reads; the model a user compiles again can be trained on from the weights.
"""

import keras


def architecture_and_weights(model):
    """The uncompiled functional model that shares `model`'s layers and
    weights (nothing is copied): saving it writes no compile config and no
    optimizer state.

    Args:
        model: a functional `keras.Model`, such as `build_stacked_hourglass`
            returns, compiled or not.

    Returns:
        A `keras.Model` with the same config, name and outputs.
    """
    return keras.Model(model.input, model.output, name=model.name)


def save_model(model, path):
    """Writes `model`'s architecture and weights to the `.keras` file `path`
    (see the module docstring for why nothing else)."""
    architecture_and_weights(model).save(path)
