"""Shared fixtures: the catalog, and a warehouse engine on SQLite and on PostgreSQL.

Every storage test takes `engine`, so it runs on both backends. PostgreSQL comes from
GDX_TEST_POSTGRES_URL (default: the local server); each test gets a schema of its own. When
CI=true an unreachable PostgreSQL fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_TMP = Path(tempfile.mkdtemp(prefix="gdx-airflow-"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# an Airflow home of the tests' own: `gdx init` in a test writes the hub's settings there
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_TMP / "home")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_TMP / 'airflow.db'}"
os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_AIRFLOW_TMP / "logs")
os.environ["GDX_DATA_DOCS_DIR"] = str(_AIRFLOW_TMP / "data_docs")

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from catalog_schema import Catalog, load_catalog  # noqa: E402
from warehouse import engine as engines  # noqa: E402
from warehouse import tables  # noqa: E402

POSTGRES_URL = os.environ.get(
    "GDX_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


def _postgres_or_skip() -> None:
    try:
        probe = sa.create_engine(POSTGRES_URL)
        with probe.connect():
            pass
        probe.dispose()
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, catalog):
    """An empty, initialised warehouse on each backend."""
    if request.param == "sqlite":
        db = engines.create(f"sqlite:///{tmp_path / 'gdx.db'}")
        tables.init_schema(db, catalog)
        yield db
        db.dispose()
        return
    _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    db = engines.create(url.render_as_string(hide_password=False))
    tables.init_schema(db, catalog)
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def edited_catalog(tmp_path: Path, file: str, change) -> Catalog:
    """A copy of the packaged catalog with one YAML file changed by `change(data)`, loaded."""
    import shutil

    import yaml

    from catalog_schema.catalog import DEFAULT_DIR

    folder = tmp_path / "catalog"
    if not folder.exists():
        shutil.copytree(DEFAULT_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_catalog(folder)
