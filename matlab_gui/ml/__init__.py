"""torch only: model zoo, data, losses, metrics, trainer, inference, model folders (no Qt)."""
