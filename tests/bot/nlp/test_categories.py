"""The complaint category classifier, trained on a small stratified part of the real CFPB
narratives (the whole file takes minutes; 600 rows keep this file fast)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sklearn.model_selection import train_test_split

from bot.core.settings import Settings
from bot.nlp.categories import (
    CFPB_CSV,
    CFPB_LABEL_COLUMN,
    CFPB_TEXT_COLUMN,
    SHARED_CFPB_CSV,
    CategoryModel,
    CategoryReport,
    categorize_rows,
    model_file,
    read_labelled_csv,
    report_file,
    train_categories,
    train_from_csv,
)
from bot.nlp.embeddings import sentence_encoder

TRAIN_ROWS = 600
UNSEEN_ROWS = 200

MORTGAGE = "Mortgage"
STUDENT_LOAN = "Student loan"
DEBT_COLLECTION = "Debt collection"
CREDIT_REPORTING = "Credit reporting, credit repair services, or other personal consumer reports"
CREDIT_CARD = "Credit card or prepaid card"
BANK_ACCOUNT = "Bank account or service, Savings account"
# Written for these tests: each says plainly which product it is about.
CLEAR_NARRATIVES = {
    "My mortgage servicer misapplied my monthly mortgage payments to the escrow account and "
    "now says my home loan is delinquent and is threatening foreclosure on my house.": MORTGAGE,
    "My federal student loans were moved to a new student loan servicer, which lost my "
    "income-driven repayment application and put my loans in forbearance.": STUDENT_LOAN,
    "A debt collector keeps calling me and my family several times a day about a debt I do "
    "not owe, threatens to sue me, and never sent me a debt validation letter.": DEBT_COLLECTION,
    "Equifax and TransUnion are reporting accounts on my credit report that are not mine. I "
    "disputed them with the credit bureaus, but they were verified and my credit score "
    "dropped.": CREDIT_REPORTING,
    "My credit card company charged me a late fee and raised my card's APR although I paid "
    "the credit card statement balance before the due date.": CREDIT_CARD,
    "My bank closed my checking account without notice, kept the balance and charged "
    "overdraft fees on the checking account.": BANK_ACCOUNT,
}


@pytest.fixture(scope="module")
def cfpb_rows() -> tuple[list[str], list[str]]:
    """Every narrative of the CFPB file with its product."""
    return read_labelled_csv(CFPB_CSV, text_column=CFPB_TEXT_COLUMN, label_column=CFPB_LABEL_COLUMN)


@pytest.fixture(scope="module")
def trained(
    cfpb_rows: tuple[list[str], list[str]],
) -> tuple[CategoryModel, CategoryReport, list[str], list[str]]:
    """A model trained on 600 stratified rows, and 200 rows it never saw."""
    texts, labels = cfpb_rows
    rest, chosen = train_test_split(
        list(range(len(texts))), test_size=TRAIN_ROWS, stratify=labels, random_state=3
    )
    model, report = train_categories(
        [texts[i] for i in chosen], [labels[i] for i in chosen], encoder=sentence_encoder()
    )
    unseen = rest[:UNSEEN_ROWS]
    return model, report, [texts[i] for i in unseen], [labels[i] for i in unseen]


def test_report_puts_ours_next_to_the_baseline(
    trained: tuple[CategoryModel, CategoryReport, list[str], list[str]],
) -> None:
    _, report, _, _ = trained
    assert report.train_size + report.test_size == TRAIN_ROWS
    assert report.test_size == TRAIN_ROWS // 5
    assert len(report.labels) == 8
    assert 0.5 < report.accuracy <= 1.0
    assert 0.5 < report.baseline_accuracy <= 1.0
    assert report.seconds > 0
    text = "\n".join(report.lines())
    assert "baseline" in text
    assert f"{report.accuracy:.3f}" in text


def test_clearly_worded_narratives_get_their_product(
    trained: tuple[CategoryModel, CategoryReport, list[str], list[str]],
) -> None:
    model = trained[0]
    predictions = model.predict(list(CLEAR_NARRATIVES))
    assert [p.category for p in predictions] == list(CLEAR_NARRATIVES.values())
    assert all(0.0 < p.confidence <= 1.0 for p in predictions)


def test_unseen_real_narratives_are_mostly_right(
    trained: tuple[CategoryModel, CategoryReport, list[str], list[str]],
) -> None:
    model, _, texts, truth = trained
    predicted = [p.category for p in categorize_rows(model, texts)]
    right = sum(p == t for p, t in zip(predicted, truth, strict=True))
    # About 0.75 with 600 training rows (the full file: see the benchmark).
    assert right / len(truth) > 0.65
    assert set(predicted) <= set(model.labels)


def test_empty_text_gets_the_most_frequent_category(
    trained: tuple[CategoryModel, CategoryReport, list[str], list[str]],
) -> None:
    model = trained[0]
    empty, blank = model.predict(["", "   \n"])
    assert empty.category == blank.category == CREDIT_REPORTING
    assert 0.3 < empty.confidence < 0.5
    assert model.predict([]) == []


def test_saved_model_predicts_the_same(
    trained: tuple[CategoryModel, CategoryReport, list[str], list[str]], tmp_path: Path
) -> None:
    model, _, texts, _ = trained
    path = model_file(tmp_path / "models")
    model.save(path)
    loaded = CategoryModel.load(path)
    sample = [*list(CLEAR_NARRATIVES), *texts[:10], ""]
    before, after = model.predict(sample), loaded.predict(sample)
    assert [p.category for p in after] == [p.category for p in before]
    for a, b in zip(after, before, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
    assert loaded.labels == model.labels
    assert loaded.encoder_path == ""  # the packaged MiniLM, not a path on this machine


def test_loading_another_file_is_refused(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "other.joblib"
    joblib.dump({"something": "else"}, path)
    with pytest.raises(ValueError, match="not a category model"):
        CategoryModel.load(path)


def test_a_wrong_column_name_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="'Narrative'") as error:
        read_labelled_csv(CFPB_CSV, text_column="Narrative", label_column=CFPB_LABEL_COLUMN)
    assert CFPB_TEXT_COLUMN in str(error.value)  # the columns that are there


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "team"])
        writer.writerows((n, text, team) for n, (text, team) in enumerate(rows))
    return path


BILLING = "Billing & Payments"
DELIVERY = "delivery-team"
TECHNICAL = "Tech support (L2)"
COMPANY_ROWS = [
    (text, team)
    for team, texts in {
        BILLING: [
            "I was charged twice for my monthly subscription this month.",
            "The invoice shows a fee I never agreed to pay.",
            "Please refund the duplicate payment taken from my card.",
            "My bill is higher than the price on your website.",
            "You charged my credit card after I cancelled the plan.",
            "Why does my invoice include a late payment fee?",
        ],
        DELIVERY: [
            "My parcel has not arrived and the tracking has not moved for a week.",
            "The courier left my package at the wrong address.",
            "The delivery was supposed to come yesterday but never showed up.",
            "The box arrived damaged and the shipment was incomplete.",
            "The driver marked the parcel as delivered but I never got it.",
            "My order is stuck in transit at the depot.",
        ],
        TECHNICAL: [
            "The app crashes every time I open the settings screen.",
            "I cannot log in, the password reset email never comes.",
            "The router keeps dropping the wifi connection at night.",
            "Error 500 appears when I upload a file to my account.",
            "The software update froze my laptop on the boot screen.",
            "The website shows a blank page after I sign in.",
        ],
    }.items()
    for text in texts
]


def test_any_csv_with_other_columns_and_labels_trains(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "company.csv", [*COMPANY_ROWS, ("   ", BILLING), ("x", "")])
    texts, labels = read_labelled_csv(path, text_column="text", label_column="team")
    assert len(texts) == len(COMPANY_ROWS)  # the row without text, the one without a label

    model, report = train_categories(texts, labels, encoder=sentence_encoder())
    assert model.labels == sorted([BILLING, DELIVERY, TECHNICAL])
    assert report.labels == model.labels
    assert report.test_size >= 3  # at least one row of each label is held out
    predictions = model.predict(
        [
            "I was billed twice and want my money back.",
            "Where is my package? The tracking says it is lost.",
            "The app shows an error and crashes when I log in.",
        ]
    )
    assert [p.category for p in predictions] == [BILLING, DELIVERY, TECHNICAL]


def test_training_from_a_file_saves_the_model_and_its_report(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "company.csv", COMPANY_ROWS)
    report = train_from_csv(path, tmp_path / "models", text_column="text", label_column="team")
    assert report.source == "company.csv"
    assert CategoryReport.load(report_file(tmp_path / "models")) == report
    model = CategoryModel.load(model_file(tmp_path / "models"))
    assert model.labels == report.labels
    assert CategoryReport.load(tmp_path / "nothing.json") is None


def test_the_model_trained_on_the_whole_cfpb_file_beats_tfidf_by_two_points() -> None:
    """`make test` trains the app's model from the shared CFPB file when it is missing; its
    held-out figures (20 % stratified, never trained on) must beat TF-IDF + linear SVM."""
    report = CategoryReport.load(report_file(Settings().nlp_models_dir))
    if report is None or report.source != SHARED_CFPB_CSV.name:
        pytest.skip("the app's category model was not trained on the shared CFPB file")
    assert report.train_size + report.test_size == 10_000
    assert report.accuracy - report.baseline_accuracy >= 0.02, report.lines()
    assert report.macro_f1 > report.baseline_macro_f1, report.lines()


def test_training_refuses_a_single_label_or_a_label_with_one_row() -> None:
    encoder = sentence_encoder()
    with pytest.raises(ValueError, match="at least 2 different labels"):
        train_categories(["a text", "another"], ["same", "same"], encoder=encoder)
    with pytest.raises(ValueError, match="'lonely'"):
        train_categories(
            ["one text", "two texts", "three texts"], ["pair", "pair", "lonely"], encoder=encoder
        )
