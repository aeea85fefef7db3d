"""pytest configuration: loads every testbed/fixtures_*.py as a plugin, so
each component's fixtures live in their own file."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

pytest_plugins = sorted(
    "testbed." + p.stem for p in (HERE / "testbed").glob("fixtures_*.py"))
