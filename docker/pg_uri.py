"""Print the PostgreSQL URI built from POSTGRES_USER/PASSWORD/DB (URL-encoded: any character works).

pg-uri [driver]      # e.g. `pg-uri psycopg` -> postgresql+psycopg://user:pa%40ss@postgres:5432/mlflow
"""

import os
import sys
from urllib.parse import quote


def main() -> None:
    env = os.environ
    scheme = f"postgresql+{sys.argv[1]}" if len(sys.argv) > 1 else "postgresql"
    user, password = quote(env["POSTGRES_USER"], safe=""), quote(env["POSTGRES_PASSWORD"], safe="")
    host = env.get("POSTGRES_HOST", "postgres")
    database = quote(env.get("POSTGRES_DB", "mlflow"), safe="")
    sys.stdout.write(f"{scheme}://{user}:{password}@{host}:5432/{database}\n")


if __name__ == "__main__":
    main()
