"""``pmsn models`` sub-command (registered by the lead in ``pmsn.cli``)."""

import argparse

import pytest

from pmsn.models import cli


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="pmsn")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_table_for_one_model_checks_the_counts(capsys):
    assert run_cli(["models", "pmsn_shd", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| pmsn_shd | shd | pmsn | SHD d=256 | 120,340 | 120,300 | ok |" in out
    assert "122,500 *" in out  # masked PSN: the paper counts the band only


def test_count_with_neuron_and_options(capsys):
    assert run_cli(["models", "tclif_rec", "--neuron", "tclif", "--option", "preset=gsc"]) == 0
    assert "196,516 parameters" in capsys.readouterr().out


def test_bad_option_and_model_are_reported():
    with pytest.raises(SystemExit):
        run_cli(["models", "pmsn_shd", "--option", "width"])
    with pytest.raises(ValueError, match="unknown model"):
        run_cli(["models", "vgg"])


@pytest.mark.parametrize("argv, message", [
    (["models", "vgg"], "pmsn models: error: unknown model 'vgg'; expected one of"),
    (["models", "--neuron", "lif"], "pmsn models: error: --neuron/--option need a model name"),
    (["models", "pmsn_shd", "--option", "widht=3"], "pmsn models: error: model 'pmsn_shd' does not take option(s) "
                                                    "['widht']"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    from pmsn.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
