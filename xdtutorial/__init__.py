"""xdtutorial: the code behind the extreme-deconvolution tutorial, one module per concern.

The notebooks import it through the front ``helpers.py``, which documents the
conventions and maps each notebook to its module.  Imports run one way (a
module imports only those listed after it; tests/test_front.py checks for
cycles)::

    data           -
    _numerics      -
    model          _numerics
    _em_fast       model
    em             _numerics, model, _em_fast
    xd_libraries   _numerics, model, em
    posterior      _numerics, model
    plots          _numerics, model
    membership     _numerics, data, model
    cluster_fit    _numerics, data, model, membership
    survey         _numerics, data, cluster_fit
    catalogues     data, model, cluster_fit
"""
