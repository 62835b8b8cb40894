"""The short reliability campaigns (scripts/reliability.py --quick): kills, races (one user
and machine-wide), fuzz."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import reliability

pytestmark = pytest.mark.reliability


def test_killed_runs_never_leave_a_broken_bundle_or_pip_conf(tmp_path: Path) -> None:
    outcome = reliability.crash(20, seed=1, folder=tmp_path)
    assert (outcome.cases, outcome.failures, outcome.damaged) == (20, 0, 0), outcome.details


def test_runs_started_at_once_agree_on_one_bundle_and_one_cert_line(tmp_path: Path) -> None:
    outcome = reliability.race(8, folder=tmp_path)
    assert (outcome.failures, outcome.damaged) == (0, 0), outcome.details


def test_hostile_bytes_never_raise_from_the_parser() -> None:
    outcome = reliability.fuzz(300, seed=2)
    assert outcome.failures == 0, outcome.details


def test_machine_wide_runs_started_at_once_agree_on_one_bundle_and_one_cert_line(
    tmp_path: Path,
) -> None:
    refusal = reliability.machine_refusal()
    if refusal is not None:
        pytest.skip(refusal)
    outcome = reliability.machine(8, folder=tmp_path)
    assert (outcome.cases, outcome.failures, outcome.damaged) == (8, 0, 0), outcome.details


def test_the_corpus_of_odd_files_damages_nothing(tmp_path: Path) -> None:
    outcome = reliability.corpus(tmp_path)
    assert outcome.cases >= 18  # every file of tests/data/certs and tests/data/pip
    assert (outcome.failures, outcome.damaged) == (0, 0), outcome.details
