from toy_models import tiny_fcn, train_yaml  # noqa: F401 - fixtures
