"""One save/load check shared by the layer, augmentation and model tests."""

from pathlib import Path

import keras
import numpy as np


def assert_survives_save_and_load(model: keras.Model, x: np.ndarray, folder: Path) -> keras.Model:
    """Save ``model`` as .keras, load it back and check the same predictions on ``x``;
    returns the loaded model for further checks."""
    path = Path(folder) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    return loaded
