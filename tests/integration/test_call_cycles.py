"""scripts/check-call-cycles: a call cycle between two files of an enforced
component fails the check; calls one way do not; the tree itself is clean
(every component is enforced)."""
import subprocess

import testbed

SCRIPT = testbed.REPO / "scripts" / "check-call-cycles"


def compile_tree(root, files):
    """Writes lib/<name>.c for each file and builds root/build/obj/lib."""
    (root / "lib").mkdir()
    (root / "build" / "obj" / "lib").mkdir(parents=True)
    for name, text in files.items():
        src = root / "lib" / name
        src.write_text(text)
        subprocess.run(["cc", "-c", "-o",
                        str(root / "build" / "obj" / "lib" / (src.stem + ".o")),
                        str(src)], check=True)


def check(root):
    return subprocess.run([str(SCRIPT), "build"], cwd=root, text=True,
                          capture_output=True, timeout=60)


def test_two_files_calling_each_other_fail(tmp_path):
    compile_tree(tmp_path, {
        "a.c": "int b(int); int a(int x) { return x ? b(x - 1) : 0; }\n",
        "b.c": "int a(int); int b(int x) { return a(x); }\n",
        "c.c": "int a(int); int c(void) { return a(1); }\n",
    })
    r = check(tmp_path)
    assert r.returncode == 1, r.stdout
    assert "lib: FAIL: call cycle between a.c, b.c" in r.stdout
    assert "a.c calls b.c" in r.stdout and "b.c calls a.c" in r.stdout
    assert "c.c" not in r.stdout


def test_calls_one_way_and_callbacks_pass(tmp_path):
    # b hands a function pointer down to a: a calls back without naming b.
    compile_tree(tmp_path, {
        "a.c": "int a(int (*cb)(int)) { return cb(1); }\n",
        "b.c": "int a(int (*)(int));\n"
               "static int back(int x) { return x; }\n"
               "int b(void) { return a(back); }\n",
    })
    r = check(tmp_path)
    assert r.returncode == 0, r.stdout
    assert "lib: 2 files, no call cycle" in r.stdout


def test_missing_objects_are_an_error_not_a_pass(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.c").write_text("int a(void) { return 0; }\n")
    r = check(tmp_path)
    assert r.returncode == 2 and "missing (run make)" in r.stdout


def test_the_enforced_components_of_the_tree_have_no_call_cycle():
    r = subprocess.run([str(SCRIPT), str(testbed.BUILD)], cwd=testbed.REPO,
                       text=True, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    for comp in ("lib", "dnscache", "vault", "controller", "module"):
        assert any(line.startswith(f"{comp}: ") and
                   line.endswith("no call cycle") for line in lines), r.stdout
