"""Offer letters: the template HR edits, and the letters generated from it, kept as made."""

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.errors import AllotError
from compensation.letter_engine import letter_body_check
from compensation.models.offers import Offer


class OfferLetterTemplate(models.Model):
    """The body of the offer letter, a Django template HR edits. The default one is used."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(
        help_text="Django template. Variables: candidate, offer, hiring_manager, lines, total, "
        "token_budget, tokens_at_reference_rate, reference_rate, token_purpose, "
        "allocation_sentence, trade_sentence, carryover_sentence, first_year_sentence, "
        "stock_options, strike_price, company, response_deadline, today."
    )
    is_default = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="one_default_letter",
                violation_error_message="Another template is the default; untick it first.",
            ),
        ]

    def __str__(self) -> str:
        return self.name + (" (default)" if self.is_default else "")

    def clean(self) -> None:
        """A sample letter is rendered with the text, in the letters' sandbox: a tag that would
        reach other templates or the project, or any error, is shown on the body."""
        try:
            letter_body_check(self.body)
        except AllotError as exc:
            raise ValidationError({"body": exc.message}) from exc


class LetterImmutableError(Exception):
    """A generated letter is kept as it was; a new round makes a new letter."""


class OfferLetter(models.Model):
    """A generated letter: the HTML and the PDF exactly as produced, never changed afterwards."""

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="letters")
    round_number = models.PositiveSmallIntegerField()
    template = models.ForeignKey(OfferLetterTemplate, on_delete=models.PROTECT, related_name="+")
    html = models.TextField()
    pdf = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    package_hash = models.CharField(
        max_length=64, help_text="Of the package it lists: an unchanged package reuses the letter."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Letter for offer #{self.offer_id}, round {self.round_number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise LetterImmutableError("An offer letter is never changed; generate a new one.")
        self.sha256 = hashlib.sha256(bytes(self.pdf)).hexdigest()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LetterImmutableError("Offer letters are kept; they cannot be deleted.")

    @property
    def filename(self) -> str:
        return f"offer-{self.offer_id}-round-{self.round_number}-letter-{self.pk}.pdf"
