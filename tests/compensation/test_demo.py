import pytest
from django.core.management import CommandError, call_command

from compensation.models import Offer, OfferState


@pytest.mark.django_db
def test_demo_offers_cover_the_states_after_seed_demo():
    call_command("seed_demo", employees=3, events_per_employee=2, seed=1)
    call_command("seed_offers_demo")
    states = sorted(Offer.objects.values_list("state", flat=True))
    assert states == sorted(
        [
            OfferState.DRAFT,
            OfferState.PENDING_APPROVAL,
            OfferState.SENT,
            OfferState.PENDING_APPROVAL,
        ]
    )
    countered = Offer.objects.get(candidate__last_name="Hopper")
    assert countered.round_number == 2 and countered.rounds.count() == 2
    assert Offer.objects.get(candidate__last_name="Lovelace").letters.count() == 1
    call_command("seed_offers_demo", if_empty=True)  # a second run changes nothing
    assert Offer.objects.count() == 4
    with pytest.raises(CommandError, match="already exist"):
        call_command("seed_offers_demo")


@pytest.mark.django_db
def test_demo_offers_need_the_demo_sign_ins():
    with pytest.raises(CommandError, match="Run seed_demo first"):
        call_command("seed_offers_demo")


@pytest.mark.django_db
def test_make_run_goes_on_without_demo_sign_ins(capsys):
    call_command("seed_offers_demo", if_empty=True)
    assert "No demo offers: Run seed_demo first" in capsys.readouterr().out
    assert not Offer.objects.exists()
