"""Argument checks for the model builder, with errors that name the constraint."""


def _require_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def validate_model_arguments(
    n_stacks, n_joints, n_features, n_modules, depth, input_shape
):
    """Raises ValueError when the arguments cannot build the official network."""
    _require_positive_int(n_stacks, "n_stacks")
    _require_positive_int(n_joints, "n_joints")
    _require_positive_int(n_features, "n_features")
    _require_positive_int(n_modules, "n_modules")
    _require_positive_int(depth, "depth")
    if n_features % 2:
        raise ValueError(
            f"n_features must be even (the bottleneck halves it), got {n_features}"
        )
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {input_shape!r}"
        )
    height, width, channels = input_shape
    _require_positive_int(channels, "input channels")
    # The stem divides by 4 and each hourglass level halves again.
    divisor = 2 ** (depth + 2)
    for side_name, side in (("height", height), ("width", width)):
        if isinstance(side, bool) or not isinstance(side, int) or side < divisor:
            raise ValueError(
                f"input {side_name} must be an integer of at least 2 ** (depth + 2) = "
                f"{divisor} for depth {depth}, got {side!r}"
            )
        if side % divisor:
            raise ValueError(
                f"input {side_name} {side} is not divisible by 2 ** (depth + 2) = "
                f"{divisor} (stem /4, then {depth} hourglass poolings)"
            )
