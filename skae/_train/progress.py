"""The training progress bar: tqdm over epochs with the current losses."""

from __future__ import annotations

import numpy as np


class ProgressBar:
    """A tqdm bar over epochs with the current losses (tqdm imported only when used).

    One bar can follow several calls of :func:`~skae._train.engine.train` (an ensemble
    trained in groups): ``advance_to`` moves it to the end of a group that stopped early.
    """

    def __init__(self, total, desc="skae"):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=True)
        self.position = 0
        self.group = None
        self.last = {}

    def start_group(self, label):
        """Name the networks whose losses follow (an ensemble trains in groups whose
        losses differ in scale: each is shown under its own name)."""
        self.group = label

    def __call__(self, train_losses, validation_losses):
        postfix = {} if self.group is None else {"networks": self.group}
        postfix["loss"] = f"{np.mean(train_losses):.4g}"
        if validation_losses is not None:
            postfix["val_loss"] = f"{np.mean(validation_losses):.4g}"
        self.last = postfix
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)
        self.position += 1

    def advance_to(self, position):
        if position > self.position:
            self.bar.update(position - self.position)
            self.position = position

    def finish(self, why):
        """End the bar where training ended (100% of what ran, not the 51% of the epochs
        allowed that an early stop leaves), saying why it stopped."""
        self.bar.total = max(self.position, 1)
        losses = ", ".join(f"{k}={v}" for k, v in self.last.items() if k != "networks")
        self.bar.set_postfix_str(f"{losses}; {why}" if losses else why, refresh=False)
        self.bar.refresh()
        self.bar.close()

    def close(self):
        self.bar.close()
