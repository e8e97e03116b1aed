"""The units scripts/test hands to its xdist workers (tests/scheduling.py)."""

from __future__ import annotations

from tests.scheduling import unit_of


def test_all_notebook_cells_are_one_unit() -> None:
    cells = [
        "notebooks/01_quickstart.ipynb::Cell 0",
        "notebooks/01_quickstart.ipynb::Cell 8",
        "notebooks/07_asian_handicap_and_clv.ipynb::Cell 2",
    ]
    assert {unit_of(cell) for cell in cells} == {"notebooks/"}


def test_a_file_is_one_unit_whatever_its_classes_and_params() -> None:
    ids = [
        "tests/test_prices.py::test_power_satisfies_its_definition",
        "tests/test_prices.py::test_a_fair_book_is_left_alone[shin]",
        "tests/test_prices.py::TestSomething::test_x[a-b]",
    ]
    assert {unit_of(i) for i in ids} == {"tests/test_prices.py"}


def test_the_embedded_and_services_halves_of_a_file_are_two_units() -> None:
    embedded = [
        "tests/test_tasks.py::TestOnOneWorker::test_cancel_revokes_the_chain[embedded]",
        "tests/test_tasks.py::test_soft_time_limit_fails_with_partial_progress[embedded]",
        "tests/test_chain.py::test_x[embedded-2]",
    ]
    services = ["tests/test_tasks.py::test_routing_plain_worker_consumes_both_queues[services]"]
    assert [unit_of(i) for i in embedded] == [
        "tests/test_tasks.py[embedded]",
        "tests/test_tasks.py[embedded]",
        "tests/test_chain.py[embedded]",
    ]
    assert unit_of(services[0]) == "tests/test_tasks.py[services]"
    # Not a mode of its own: a name that only contains the word, and a file's plain tests.
    assert unit_of("tests/test_faults.py::test_x[embedded_like]") == "tests/test_faults.py"
    assert unit_of("tests/test_faults.py::test_database_outage") == "tests/test_faults.py"
