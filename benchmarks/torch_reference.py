"""The same stacked hourglass in PyTorch, for a like-for-like speed comparison.

It mirrors `keras_hourglass.model` layer for layer: equal parameter counts.
"""

from torch import nn

# Torch's defaults, which the Keras model copies (eps 1e-5, momentum 0.1).
BATCH_NORM_EPSILON = 1e-5


class Residual(nn.Module):
    """BN-ReLU-Conv1x1(C/2), BN-ReLU-Conv3x3(C/2), BN-ReLU-Conv1x1(C) + skip."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        half = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels, eps=BATCH_NORM_EPSILON),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, half, 1),
            nn.BatchNorm2d(half, eps=BATCH_NORM_EPSILON),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, padding=1),
            nn.BatchNorm2d(half, eps=BATCH_NORM_EPSILON),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, out_channels, 1),
        )
        same = in_channels == out_channels
        self.skip = nn.Identity() if same else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        # In-place ReLUs are safe: each acts on a batch norm's fresh output.
        return self.skip(x) + self.body(x)


def residuals(channels, count):
    return nn.Sequential(*[Residual(channels, channels) for _ in range(count)])


class Hourglass(nn.Module):
    """Upper branch at full resolution + pooled, recursive, upsampled branch."""

    def __init__(self, depth, channels, n_modules):
        super().__init__()
        self.upper = residuals(channels, n_modules)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = residuals(channels, n_modules)
        self.low2 = (
            Hourglass(depth - 1, channels, n_modules)
            if depth > 1
            else residuals(channels, n_modules)
        )
        self.low3 = residuals(channels, n_modules)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        lower = self.low3(self.low2(self.low1(self.pool(x))))
        return self.upper(x) + self.upsample(lower)


class StackedHourglass(nn.Module):
    """Stem, `n_stacks` hourglasses with heads, remaps between stacks."""

    def __init__(self, n_stacks=2, n_joints=16, n_features=256, n_modules=1, depth=4):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3),
            nn.BatchNorm2d(64, eps=BATCH_NORM_EPSILON),
            nn.ReLU(inplace=True),
            Residual(64, 128),
            nn.MaxPool2d(2, 2),
            Residual(128, 128),
            Residual(128, n_features),
        )
        self.hourglasses = nn.ModuleList()
        self.features = nn.ModuleList()
        self.heatmaps = nn.ModuleList()
        self.remap_features = nn.ModuleList()
        self.remap_heatmaps = nn.ModuleList()
        for index in range(n_stacks):
            self.hourglasses.append(Hourglass(depth, n_features, n_modules))
            self.features.append(
                nn.Sequential(
                    residuals(n_features, n_modules),
                    nn.Conv2d(n_features, n_features, 1),
                    nn.BatchNorm2d(n_features, eps=BATCH_NORM_EPSILON),
                    nn.ReLU(inplace=True),
                )
            )
            self.heatmaps.append(nn.Conv2d(n_features, n_joints, 1))
            if index < n_stacks - 1:
                self.remap_features.append(nn.Conv2d(n_features, n_features, 1))
                self.remap_heatmaps.append(nn.Conv2d(n_joints, n_features, 1))

    def forward(self, images):
        stack_input = self.stem(images)
        outputs = []
        for index, hourglass in enumerate(self.hourglasses):
            features = self.features[index](hourglass(stack_input))
            heatmaps = self.heatmaps[index](features)
            outputs.append(heatmaps)
            if index < len(self.remap_features):
                stack_input = (
                    stack_input
                    + self.remap_features[index](features)
                    + self.remap_heatmaps[index](heatmaps)
                )
        return outputs


def count_trainable_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
