"""Nested models: fields get the domain's coercion by their own names; errors name the path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dana_poet import poet
from dana_poet.poet.errors import POETInputError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


class Applicant(BaseModel):
    income: float
    credit_score: int
    debt_ratio: float = 0.0


@dataclasses.dataclass
class Loan:
    applicant: Applicant
    amount: float
    co_signers: list[Applicant] = dataclasses.field(default_factory=list)


@poet(domain="financial_services")
def assess(a: Applicant) -> Applicant:
    return a


@poet(domain="financial_services")
def approve(loan: Loan) -> Loan:
    return loan


def test_model_fields_get_the_domain_coercion_by_field_name() -> None:
    got = assess({"income": "$60K", "credit_score": "excellent", "debt_ratio": "35%"})
    assert (got.income, got.credit_score, got.debt_ratio) == (60000.0, 780, 0.35)
    assert assess('{"income": "65,000", "credit_score": 900}').credit_score == 850  # clamped


def test_the_same_parameter_name_and_field_name_coerce_alike() -> None:
    @poet(domain="financial_services")
    def by_param(credit_score: int) -> int:
        return credit_score

    for word in ("excellent", "fair", "poor", "720"):
        assert assess({"income": 1, "credit_score": word}).credit_score == by_param(word)


def test_dataclass_holding_models_and_lists_of_models() -> None:
    loan = approve(
        {
            "applicant": {"income": "$80K", "credit_score": "good"},
            "amount": "2.5M",
            "co_signers": [{"income": "50K", "credit_score": "very good"}],
        }
    )
    assert isinstance(loan, Loan) and isinstance(loan.applicant, Applicant)
    assert loan.applicant.credit_score == 705 and loan.amount == 2_500_000.0
    assert loan.co_signers[0].credit_score == 740


def test_error_names_the_path_and_the_field_reason() -> None:
    with pytest.raises(POETInputError) as info:
        assess({"income": "$60K", "credit_score": "superb"})
    message = str(info.value)
    assert message.startswith("assess(): parameter 'a.credit_score' expects int, got 'superb'")
    assert "credit score words" in message
    assert info.value.parameter == "a.credit_score"
    assert info.value.value == "superb"


def test_deep_paths_include_list_indexes() -> None:
    with pytest.raises(POETInputError, match=r"'loan\.co_signers\[1\]\.income' expects float"):
        approve(
            {
                "applicant": {"income": 1, "credit_score": 700},
                "amount": 10,
                "co_signers": [
                    {"income": 1, "credit_score": 700},
                    {"income": "lots", "credit_score": 1},
                ],
            }
        )


def test_missing_and_unknown_fields_are_named() -> None:
    with pytest.raises(POETInputError, match=r"'a\.credit_score': missing; Applicant requires it"):
        assess({"income": 5})
    with pytest.raises(
        POETInputError,
        match=r"'loan\.co_signer': Loan has no field 'co_signer' \(did you mean 'co_signers'\?\)",
    ):
        approve({"applicant": {"income": 1, "credit_score": 700}, "amount": 1, "co_signer": []})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(alias="fico")

    @field_validator("score")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("score must be even")
        return value


def test_pydantic_extra_setting_and_validators_are_respected() -> None:
    @poet(domain="financial_services")
    def f(s: Strict) -> int:
        return s.score

    assert f({"fico": "excellent"}) == 780
    with pytest.raises(
        POETInputError, match=r"parameter 's\.fico': Value error, score must be even"
    ):
        f({"fico": 701})
    with pytest.raises(
        POETInputError, match=r"parameter 's\.other': Extra inputs are not permitted"
    ):
        f({"fico": 700, "other": 1})


def test_optional_model_keeps_the_field_reason() -> None:
    @poet(domain="financial_services")
    def maybe(a: Applicant | None = None) -> int:
        return -1 if a is None else a.credit_score

    assert maybe() == -1
    assert maybe({"income": 1, "credit_score": "fair"}) == 630
    with pytest.raises(POETInputError, match=r"'a\.credit_score' expects int"):
        maybe({"income": 1, "credit_score": "meh"})


def test_dana_struct_fields_through_a_dana_program(tmp_path: Path) -> None:
    from dana_poet.engine import new_program

    source = (
        "struct Applicant:\n"
        "    income: float\n"
        "    credit_score: int\n"
        "\n"
        '@poet(domain="financial_services")\n'
        "def score_of(a: Applicant) -> int:\n"
        "    return a.credit_score\n"
    )
    path = tmp_path / "prog.na"
    path.write_text(source)
    g = new_program(path).run_file(path)
    assert g["score_of"]({"income": "$1K", "credit_score": "poor"}) == 560
    with pytest.raises(POETInputError, match=r"'a\.income' expects float, got 'lots'"):
        g["score_of"]({"income": "lots", "credit_score": 700})


def test_an_unusable_nested_result_names_the_field() -> None:
    from dana_poet.poet.errors import POETOutputError

    @poet(retries=0)
    def build() -> Applicant:
        return {"income": "60K", "credit_score": "lots"}  # type: ignore[return-value]

    with pytest.raises(POETOutputError, match=r"is not a valid Applicant at return\.credit_score"):
        build()

    @poet(retries=0)
    def fine() -> Applicant:
        return {"income": "60K", "credit_score": "700"}  # type: ignore[return-value]

    assert fine() == Applicant(income=60000.0, credit_score=700)
