"""Run DAGs once each, in one process (`python -m gdx.airflow_run DAG_ID ...`).

What `gdx demo` uses to run every collection DAG without a scheduler: one process pays
Airflow's start-up once instead of once per DAG. Prints one JSON line: {dag_id: state}.
"""

from __future__ import annotations

import json
import sys


def main(dag_ids: list[str]) -> int:
    from airflow.configuration import conf
    from airflow.models import DagBag

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"), safe_mode=False)
    if bag.import_errors:
        print(json.dumps({"import_errors": list(bag.import_errors)}))
        return 1
    states = {}
    for dag_id in dag_ids or sorted(bag.dags):
        run = bag.dags[dag_id].test()
        states[dag_id] = str(getattr(run.state, "value", run.state))
    print(json.dumps(states))
    return 0 if all(state == "success" for state in states.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
