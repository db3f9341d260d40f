"""The papers' numbers load from ``paper_numbers.yaml`` with their printed values and the accessors' types."""

import pytest

from pmsn import papers


def test_known_values_load_exactly():
    assert papers.pmsn_table5_compartments()[5] == 90.97
    assert list(papers.pmsn_table5_compartments()) == [2, 3, 4, 5, 9, 17]
    assert papers.pmsn_table2_reset() == {"pmsn": 90.97, "pmsn_no_reset": 89.27, "lif": 81.50, "lif_no_reset": 79.50}
    assert papers.pmsn_table3_global() == {"local": 66.64, "global": 68.77}
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
