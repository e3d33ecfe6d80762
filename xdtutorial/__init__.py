"""xdtutorial: the code behind the extreme-deconvolution tutorial, one module per concern.

The notebooks import it through the front ``helpers.py``, which documents the
conventions and maps each notebook to its module.  Imports run one way: each
module imports at most the modules listed on its line, all of them above it
(tests/test_front.py checks the code against this table, so it is the import
graph)::

    errors         -
    _validation    errors
    data           _validation, errors
    _numerics      _validation
    model          _numerics, _validation, errors
    _em_fast       errors, model
    em             _numerics, _validation, errors, model, _em_fast
    xd_libraries   _numerics, _validation, model, em
    posterior      _numerics, _validation, model
    plots          _numerics, _validation, model
    _membership_em _numerics, errors, model
    membership     _numerics, _validation, data, errors, _membership_em
    intervals      membership
    cluster_fit    _numerics, _validation, data, model, membership, intervals
    survey         _numerics, _validation, data, cluster_fit
    catalogues     _validation, data, model, cluster_fit
    reference      -
    xd             _numerics, _validation, errors

``errors`` holds the exception and warning classes; ``_validation`` the checks
every public function runs on its arguments (messages "NAME must be ...; got
.... Fix: ...").
"""
