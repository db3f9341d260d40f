"""The papers' numbers load from ``paper_numbers.yaml`` with their printed values and the accessors' types."""

import pytest

from pmsn import papers


def test_known_values_load_exactly():
    assert papers.pmsn_table5_compartments()[5] == 90.97
    assert list(papers.pmsn_table5_compartments()) == [2, 3, 4, 5, 9, 17]
    assert papers.pmsn_table2_reset() == {"pmsn": 90.97, "pmsn_no_reset": 89.27, "lif": 81.50, "lif_no_reset": 79.50}
    assert papers.pmsn_table3_global() == {"local": 66.64, "global": 68.77}
    assert papers.pmsn_clamp_ablation() == ({"scifar10": 3.98, "scifar100": 4.5},
                                            {"sCIFAR-10 T = 32": (62, 158), "sCIFAR-10 T = 1024": (73, 5182)})
    assert papers.psn_fig5_order()[31] == (60.75, 62.63) and len(papers.psn_fig5_order()) == 32
    assert papers.accuracy()[("scifar10", "scifar_column", "pmsn")] == (90.97, "PMSN Table II")
    assert papers.accuracy()[("smnist", "pmsn_smnist", "pmsn")].accuracy == 99.40
    assert len(papers.accuracy()) == 55


def test_tclif_tables_keep_their_tuples():
    table2 = papers.tclif_table2_energy()
    assert table2["tclif"] == ((0.294, 0.146, 0.030), 28.2) and table2["lif"].energy_nj == 23.8
    table7 = papers.tclif_table7_gradient_norm()
    assert len(table7) == 16 and list(table7)[0] == (-0.2, 0.2)
    assert table7[(-0.8, 0.4)] == (1.352, (-0.815, 0.360), 1.321, 99.20)
    assert table7[(-0.2, 0.8)].betas_after == (-0.202, 0.835)


def test_cost_table_rows_line_up_with_its_columns():
    table = papers.pmsn_table7_cost()
    assert len(table.columns) == 3 and all(len(values) == 3 for _, values in table.rows)
    assert dict(table.rows)["PMSN peak memory (GB)"] == (1.44, 3.14, 9.40)


def test_accessors_return_fresh_dicts():
    papers.pmsn_table5_compartments()[5] = 0.0
    assert papers.pmsn_table5_compartments()[5] == pytest.approx(90.97)


def test_paper_tables_rows_and_types():
    tables = papers.paper_tables()
    assert {key: len(table.rows) for key, table in tables.items()} == {
        "pmsn_table1": 34, "pmsn_table2": 24, "pmsn_table3": 14, "pmsn_table5": 12, "tclif_table1": 59,
        "psn_table1": 16, "psn_table2": 29}
    first = tables["pmsn_table2"].rows[0]
    assert (first.setting, first.method, first.params, first.accuracy) == ("sCIFAR-10 T = 32", "PMSN", "0.54M", 90.97)
    assert first.match["model.options.neuron_kwargs.soma_mode"] == (None, "parallel", "serial")
    assert tables["pmsn_table1"].rows[13].accuracy is None  # PS-MNIST PLIF: "N.A."
    assert all(isinstance(row.params, (str, type(None))) for table in tables.values() for row in table.rows)
    # the rows agree with the older per-table accessors
    table5 = {row.method: row.accuracy for row in tables["pmsn_table5"].rows if row.setting == "sCIFAR-10"}
    assert table5 == {f"n = {n}": value for n, value in papers.pmsn_table5_compartments().items()}


def _match_specs():
    for key, table in papers.paper_tables().items():
        for row in table.rows:
            if row.match is not None:
                yield f"{key}: {row.setting} / {row.method}", row.match
    for method, specs in papers.pmsn_table7_runs().items():
        yield from ((f"pmsn_table7 {method}", spec) for spec in specs)
    yield from ((f"tclif_table2 {neuron}", spec) for neuron, spec in papers.tclif_table2_runs().items())


def test_every_match_names_real_config_keys_and_values():
    """A typo in a match would silently leave a row empty: every key is a config field or an option the named
    network takes, every model / neuron / task exists."""
    from pmsn.data.registry import TASKS
    from pmsn.models.registry import MODELS, model_options
    from pmsn.neurons import NEURONS

    for where, match in _match_specs():
        assert {"data.task", "model.name", "model.neuron"} <= set(match), where
        assert set(match["model.name"]) <= set(MODELS) and set(match["model.neuron"]) <= set(NEURONS) | {"none"}, where
        assert set(match["data.task"]) <= set(TASKS), where
        for key in match:
            section, field, *rest = key.split(".")
            assert (section, field) in {("data", "task"), ("model", "name"), ("model", "neuron"),
                                        ("model", "options"), ("data", "options")}, (where, key)
            if (section, field) == ("model", "options"):
                assert all(rest[0] in model_options(name) for name in match["model.name"]), (where, key)


def test_table7_and_tclif_table2_runs_line_up():
    cost, runs = papers.pmsn_table7_cost(), papers.pmsn_table7_runs()
    assert {label.split(" ")[0] for label, _ in cost.rows} == set(runs)
    assert all(len(specs) == len(cost.columns) for specs in runs.values())
    assert set(papers.tclif_table2_runs()) == set(papers.tclif_table2_energy())
    assert papers.tclif_table2_lstm_energy() == 2834.7
