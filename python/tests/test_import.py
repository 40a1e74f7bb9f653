import parc
from parc import _core


def test_the_extension_loads_and_knows_libparc_codes():
    assert _core.ETIMEDOUT == -4
    assert issubclass(_core.Error, Exception)
    assert parc.__version__
