"""HR's bulk import of employees from CSV or XLSX (django-import-export): a preview of what will
be created and changed, errors per row, and nothing written if any row is refused (the import
runs in one transaction, rolled back on the first refused row, and in the preview always).

Columns: email, first_name, last_name, level, team, manager_email, hire_date, external_id (a
pilot's members are kept on the pilot, `pilots/`). A row whose email already signs in updates
that employee; a new one makes the sign-in (no usable password until a reset or single
sign-on) and the employee, as the admin's add form does. A manager may be anyone already
employed or anyone further down the same file.

A new level for someone employed goes through `people.level_changes.employee_level_change`
(the company's policy for this year's budget), from the day in the optional column
`level_effective_from` (YYYY-MM-DD; blank: today); the preview and the result say, per person,
what it posts or asks for (`Result.level_changes`)."""

from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from import_export import fields
from import_export.results import Error
from import_export.widgets import CharWidget, DateWidget, ForeignKeyWidget
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from common.errors import AllotError
from common.exports import SpreadsheetSafeResource
from people.level_changes import employee_level_change, level_change_effective
from people.models import Employee, Level, Team
from people.roles import ENGINEERS
from people.services import managers_group_sync

User = get_user_model()
COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "level",
    "team",
    "manager_email",
    "hire_date",
    "external_id",
)

# Not exported: when the level in a row changes, the day the new one applies from.
EFFECTIVE_COLUMN = "level_effective_from"

# The employee's own columns, compared as stored to tell an unchanged row.
STORED = ("level_id", "team_id", "hire_date", "external_id")
CHANGED_BY_IMPORT = ("level", "team", "manager", "hire_date", "external_id")
STORED_BY_IMPORT = ("level_id", "team_id", "manager_id", "hire_date", "external_id")


class TeamByNameWidget(ForeignKeyWidget):
    """A team by its name, or "Department / Team" when two departments share a team name."""

    def __init__(self, *, required: bool = True):
        super().__init__(Team, field="name")
        self.required = required
        self.found: dict[str, list[Team]] = {}  # what each text named, asked once per import

    def clean(self, value, row=None, **kwargs):
        text = (value or "").strip()
        if not text:
            if self.required:
                raise ValueError("Give the team's name.")
            return None
        if text not in self.found:
            self.found[text] = self._lookup(text)
        teams = self.found[text]
        if not teams:
            raise ValueError(f"No team named {text!r}.")
        if len(teams) > 1:
            raise ValueError(f"Two teams are named {text!r}: write 'Department / Team'.")
        return teams[0]

    @staticmethod
    def _lookup(text: str) -> list[Team]:
        if "/" in text:
            department, name = (part.strip() for part in text.split("/", 1))
            found = Team.objects.filter(name=name, department__name=department)
        else:
            found = Team.objects.filter(name=text)
        return list(found.select_related("department")[:2])

    def render(self, value, obj=None, **kwargs):
        return f"{value.department.name} / {value.name}" if value else ""


class LevelByNameWidget(ForeignKeyWidget):
    """A level by its name, any case (the levels are read once per import)."""

    def __init__(self):
        super().__init__(Level, field="name")
        self.levels: dict[str, Level] | None = None

    def clean(self, value, row=None, **kwargs):
        if self.levels is None:
            self.levels = {level.name.lower(): level for level in Level.objects.all()}
        text = (value or "").strip()
        if not text:
            raise ValueError("Give the level's name.")
        level = self.levels.get(text.lower())
        if level is None:
            names = ", ".join(level.name for level in self.levels.values())
            raise ValueError(f"No level named {text!r} (the levels: {names}).")
        return level


def _email(value) -> str:
    return str(value or "").strip().lower()


class EmployeeResource(SpreadsheetSafeResource):
    email = fields.Field(column_name="email", attribute="import_email")
    first_name = fields.Field(column_name="first_name", attribute="import_first_name")
    last_name = fields.Field(column_name="last_name", attribute="import_last_name")
    level = fields.Field(attribute="level", column_name="level", widget=LevelByNameWidget())
    team = fields.Field(
        attribute="team", column_name="team", widget=TeamByNameWidget(required=False)
    )
    manager_email = fields.Field(column_name="manager_email", attribute="import_manager_email")
    hire_date = fields.Field(
        attribute="hire_date", column_name="hire_date", widget=DateWidget("%Y-%m-%d")
    )
    external_id = fields.Field(
        attribute="external_id", column_name="external_id", widget=CharWidget(allow_blank=False)
    )

    class Meta:
        model = Employee
        fields = COLUMNS
        import_order = COLUMNS
        export_order = COLUMNS
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        # New sign-ins and employees are written a thousand at a time (with their history).
        use_bulk = True
        batch_size = 1_000

    def before_import(self, dataset, **kwargs):
        missing = {"email", "level", "hire_date"} - set(dataset.headers or [])
        if missing:
            raise ValidationError(f"The file needs the columns: {', '.join(sorted(missing))}.")
        rows = dataset.dict
        emails = {_email(row.get("email")) for row in rows}
        named = emails | {_email(row.get("manager_email")) for row in rows} - {""}
        # What the rows are checked against, read once for the whole file.
        self._employees = {
            employee.email_lower: employee
            for employee in Employee.objects.annotate(email_lower=Lower("user__email"))
            .filter(email_lower__in=named)
            .select_related("user", "manager__user")
        }
        self._sign_ins = set(
            User.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .values_list("email_lower", flat=True)
        )
        external_ids = {str(row.get("external_id") or "").strip() for row in rows} - {""}
        self._external_ids = dict(
            Employee.objects.filter(external_id__in=external_ids).values_list(
                "external_id", "user__email"
            )
        )
        self._file_emails = emails
        self._seen: set[str] = set()
        self._seen_external_ids: set[str] = set()
        self._created = 0
        self._managers: dict[str, str] = {}  # email -> manager's email, set after all rows
        # Each employed person's level as stored: a row that changes it goes to the service.
        self._levels = {email: e.level_id for email, e in self._employees.items()}
        self._stored = {e.pk: self._columns(e) for e in self._employees.values()}
        self._level_moves: list[tuple[Employee, Level, date | None]] = []
        self._acting_user = kwargs.get("user")
        super().before_import(dataset, **kwargs)

    def get_instance(self, instance_loader, row):
        return self._employees.get(_email(row.get("email")))

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        email = _email(row.get("email"))
        errors = self._row_errors(instance, row, email)
        if errors:
            raise ValidationError(errors)
        instance.import_email = email
        instance.import_manager_email = _email(row.get("manager_email"))

    def _row_errors(self, instance: Employee, row, email: str) -> dict[str, list[str]]:
        errors = {}
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [f"{email!r} is not an email address."]
        if email in self._seen:
            errors["email"] = [f"{email} is in the file twice."]
        self._seen.add(email)
        if not instance.user_id and email in self._sign_ins:
            errors["email"] = [f"{email} signs in already but is not an employee."]
        manager = _email(row.get("manager_email"))
        if manager and manager == email:
            errors["manager_email"] = ["Nobody is their own manager."]
        elif manager and manager not in self._file_emails and manager not in self._employees:
            errors["manager_email"] = [f"Nobody employed here signs in as {manager}."]
        if not instance.user_id and not (row.get("first_name") and row.get("last_name")):
            errors["first_name"] = ["A new employee needs a first and a last name."]
        external_id = instance.external_id
        if external_id:
            holder = self._external_ids.get(external_id)
            if external_id in self._seen_external_ids or (holder and holder.lower() != email):
                errors["external_id"] = [f"The HR id {external_id} is someone else's."]
            self._seen_external_ids.add(external_id)
        try:
            instance.import_level_effective = self._effective(row)
        except AllotError as error:
            errors["level"] = [error.message]
        return errors

    @staticmethod
    def _effective(row) -> date | None:
        text = str(row.get(EFFECTIVE_COLUMN) or "").strip()
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise AllotError(f"{EFFECTIVE_COLUMN} {text!r} is not a date (YYYY-MM-DD).") from exc
        return level_change_effective(day)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # The sign-in is made when the row is saved, from the email checked above; the level,
        # the team, the manager and the unique HR id were checked against what was read once.
        errors = dict(import_validation_errors or {})
        exclude = [*errors, "user", "level", "team", "manager", "external_id"]
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """An existing employee whose row says what is stored already is left alone."""
        if import_validation_errors or original is None or not original.user_id:
            return False
        user = original.user
        names = (row.get("first_name") or user.first_name, row.get("last_name") or user.last_name)
        manager = original.manager.user.email.lower() if original.manager_id else ""
        return (
            names == (user.first_name, user.last_name)
            and instance.import_manager_email == manager
            and all(getattr(instance, name) == getattr(original, name) for name in STORED)
        )

    def import_data(self, dataset, dry_run=False, **kwargs):
        # All or nothing: django-import-export keeps the valid rows of a file with invalid
        # ones; a file with any refused row writes none.
        with transaction.atomic():
            result = super().import_data(dataset, dry_run=dry_run, **kwargs)
            if result.has_errors() or result.has_validation_errors():
                transaction.set_rollback(True)
        return result

    def before_save_instance(self, instance, row, **kwargs):
        if instance.user_id:
            user = instance.user
            names = (
                row.get("first_name") or user.first_name,
                row.get("last_name") or user.last_name,
            )
            if names != (user.first_name, user.last_name):
                user.first_name, user.last_name = names
                user.save(update_fields=["first_name", "last_name"])
        else:
            instance.user = User(
                username=instance.import_email,
                email=instance.import_email,
                first_name=row["first_name"].strip(),
                last_name=row["last_name"].strip(),
            )
            instance.user.set_unusable_password()
        stored_level = self._levels.get(instance.import_email)
        if instance.pk and stored_level is not None and stored_level != instance.level_id:
            # The level moves after the rows are written, through the level-change service.
            self._level_moves.append((instance, instance.level, instance.import_level_effective))
            instance.level = Level.objects.get(pk=stored_level)
        manager = self._employees.get(instance.import_manager_email)
        instance.manager = manager if manager is not None and manager.pk else None
        if instance.import_manager_email and instance.manager is None:
            self._managers[instance.import_email] = instance.import_manager_email  # later

    def after_save_instance(self, instance, row, **kwargs):
        self._employees[instance.import_email] = instance

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        """A batch of new employees: their sign-ins first (one insert), then the employees and
        their history rows, then the sign-ins join Engineers."""
        if not self.create_instances:
            return
        try:
            users = User.objects.bulk_create([e.user for e in self.create_instances])
            for employee, user in zip(self.create_instances, users, strict=True):
                employee.user = user
            bulk_create_with_history(self.create_instances, Employee, batch_size=batch_size)
            engineers = self._engineers()
            User.groups.through.objects.bulk_create(
                [User.groups.through(user_id=u.pk, group_id=engineers.pk) for u in users]
            )
            self._created += len(users)
        except Exception as exc:  # reported on the import's page, as the library does
            self.handle_import_error(result, exc, raise_errors)
        finally:
            self.create_instances.clear()

    @staticmethod
    def _columns(employee: Employee) -> tuple:
        """What the import writes of an employee's row, as stored (a blank HR id is none)."""
        return tuple(getattr(employee, name) or None for name in STORED_BY_IMPORT)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        # A row whose only change is the level leaves the employee row to the level change.
        changed = [e for e in self.update_instances if self._columns(e) != self._stored.get(e.pk)]
        if not changed:
            self.update_instances.clear()
            return
        try:
            bulk_update_with_history(changed, Employee, [*CHANGED_BY_IMPORT], batch_size=batch_size)
        except Exception as exc:  # reported on the import's page, as the library does
            self.handle_import_error(result, exc, raise_errors)
        finally:
            self.update_instances.clear()

    def after_import(self, dataset, result, **kwargs):
        result.level_changes = []
        if not (result.has_errors() or result.has_validation_errors()):
            self._finish()
            try:
                result.level_changes = self._levels_move()
            except AllotError as error:  # the whole file is refused, its reason shown
                result.append_base_error(Error(error.message))
        super().after_import(dataset, result, **kwargs)

    def _levels_move(self) -> list[str]:
        """Each new level through the service: one sentence a person of what it did."""
        done = []
        for employee, level, effective in self._level_moves:
            outcome = employee_level_change(
                employee=employee,
                new_level=level,
                effective=effective,
                acting_user=self._acting_user,
                source="import",
            )
            done.append(f"{employee.display_name}: {outcome.sentence}")
        return done

    def _finish(self) -> None:
        """The managers named further down the file (one update, with history), then the
        Managers group (new managers in, anyone who lost their last report out)."""
        late = []
        for email, manager_email in self._managers.items():
            employee = self._employees[email]
            employee.manager = self._employees[manager_email]
            late.append(employee)
        if late:
            bulk_update_with_history(late, Employee, ["manager"], batch_size=1_000)
        managers_group_sync()

    def _engineers(self) -> Group:
        if not hasattr(self, "_engineers_group"):
            self._engineers_group = Group.objects.get_or_create(name=ENGINEERS)[0]
        return self._engineers_group

    # For the preview and for exports: what each column shows of an employee.
    def dehydrate_email(self, employee: Employee) -> str:
        return getattr(employee, "import_email", "") or (
            employee.user.email if employee.user_id else ""
        )

    def dehydrate_first_name(self, employee: Employee) -> str:
        return employee.user.first_name if employee.user_id else ""

    def dehydrate_last_name(self, employee: Employee) -> str:
        return employee.user.last_name if employee.user_id else ""

    def dehydrate_manager_email(self, employee: Employee) -> str:
        if getattr(employee, "import_manager_email", None) is not None:
            return employee.import_manager_email
        return employee.manager.user.email if employee.manager_id else ""
