#!/usr/bin/env python3
"""Tests of check_layers.py: it passes the real tree and fails each kind of planted violation,
in a copy of the real tree and in small made-up trees."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layers  # noqa: E402

REAL_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def append(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


class RealTree(unittest.TestCase):
    """A copy of the real src/, clean and then with one violation planted."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="portier-layers-")
        self.src = os.path.join(self.tmp, "src")
        shutil.copytree(REAL_SRC, self.src,
                        ignore=shutil.ignore_patterns("node_modules", "*.o", "*.a"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def problems(self):
        return check_layers.check(self.src)

    def assert_one_problem(self, *fragments):
        p = self.problems()
        self.assertEqual(len(p), 1, p)
        for f in fragments:
            self.assertIn(f, p[0])

    def test_the_copy_is_clean(self):
        self.assertEqual(self.problems(), [])

    def test_core_including_the_server_fails(self):
        append(os.path.join(self.src, "core/time.cpp"), '\n#include "server/api.hpp"\n')
        self.assert_one_problem("src/core/time.cpp:", '"server/api.hpp"',
                                "core may not depend on server")

    def test_unit_including_the_store_fails(self):
        append(os.path.join(self.src, "unit/agent.cpp"), '\n#include "store/store.hpp"\n')
        self.assert_one_problem("src/unit/agent.cpp:", "unit may not depend on store")

    def test_unit_linking_the_server_fails(self):
        append(os.path.join(self.src, "unit/CMakeLists.txt"),
               "\ntarget_link_libraries(portier_unit PRIVATE portier_server)\n")
        self.assert_one_problem("src/unit/CMakeLists.txt", "links portier_server",
                                "unit may not depend on server")

    def test_a_link_in_a_cmake_comment_does_not_count(self):
        append(os.path.join(self.src, "unit/CMakeLists.txt"),
               "\n# not target_link_libraries(portier_unit PRIVATE portier_server)\n")
        self.assertEqual(self.problems(), [])

    def test_bus_including_more_of_sync_than_the_change_message_fails(self):
        append(os.path.join(self.src, "bus/local_bus.cpp"), '\n#include "sync/feed.hpp"\n')
        self.assert_one_problem("src/bus/local_bus.cpp:", "bus may not depend on sync")

    def test_crypto_using_a_library_it_does_not_name_fails(self):
        append(os.path.join(self.src, "crypto/crypto.cpp"), "\n#include <sqlite3.h>\n")
        self.assert_one_problem("src/crypto/crypto.cpp:", "<sqlite3.h>",
                                "crypto may not depend on sqlite")

    def test_an_include_not_rooted_at_src_fails(self):
        append(os.path.join(self.src, "core/time.cpp"), '\n#include "time.hpp"\n')
        self.assert_one_problem("src/core/time.cpp:", "not rooted at src/")

    def test_a_part_without_its_line_fails(self):
        readme = os.path.join(self.src, "core/README.md")
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        write(readme, text.replace("May depend on:", "Depends on:"))
        self.assert_one_problem("src/core/README.md", "no 'May depend on:' line")

    def test_a_new_part_without_a_readme_fails(self):
        write(os.path.join(self.src, "nats/nats_bus.cpp"), '#include "bus/bus.hpp"\n')
        self.assert_one_problem("src/nats/README.md", "missing")

    def test_a_file_in_a_subfolder_of_a_part_is_checked(self):
        write(os.path.join(self.src, "server/push/hub.cpp"), '#include "unit/agent.hpp"\n')
        self.assert_one_problem("src/server/push/hub.cpp:1:", "server may not depend on unit")

    def test_the_command_line_fails_and_says_why(self):
        append(os.path.join(self.src, "core/time.cpp"), '\n#include "server/api.hpp"\n')
        self.assertEqual(check_layers.main(["check_layers.py", self.src]), 1)


class MadeUpTree(unittest.TestCase):
    """Rules the real tree does not exercise today."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="portier-layers-")
        self.src = os.path.join(self.tmp, "src")
        os.makedirs(self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def part(self, name, line, files=None, extra=""):
        write(os.path.join(self.src, name, "README.md"),
              f"# {name}\n\nWhat it is.\nMay depend on: {line}\n{extra}")
        for path, text in (files or {}).items():
            write(os.path.join(self.src, name, path), text)

    def test_a_cycle_fails(self):
        self.part("a", "b.", {"a.cpp": '#include "b/b.hpp"\n'})
        self.part("b", "a.", {"b.hpp": '#include "a/a.hpp"\n'})
        p = check_layers.check(self.src)
        self.assertEqual(len(p), 1, p)
        self.assertIn("cycle: a -> b -> a", p[0])

    def test_notes_in_parentheses_allow_nothing(self):
        self.part("a", "nothing.")
        self.part("b", "a (never c).", {"b.cpp": '#include "a/a.hpp"\n#include "c/c.hpp"\n'})
        self.part("c", "nothing.")
        p = check_layers.check(self.src)
        self.assertEqual(len(p), 1, p)
        self.assertIn("b may not depend on c", p[0])

    def test_boost_names_its_libraries_in_parentheses(self):
        self.part("a", "Boost (Asio, JSON), fmt. Not Beast.",
                  {"a.cpp": "#include <boost/asio.hpp>\n#include <boost/json.hpp>\n"
                            "#include <fmt/format.h>\n#include <boost/beast/http.hpp>\n"})
        p = check_layers.check(self.src)
        self.assertEqual(len(p), 1, p)
        self.assertIn("<boost/beast/http.hpp>: a may not depend on beast", p[0])

    def test_tests_beside_the_code_get_gtest_support_and_their_own_line(self):
        self.part("a", "nothing.")
        self.part("b", "a.", {
            "b_test.cpp": '#include <gtest/gtest.h>\n#include "support/fake.hpp"\n'
                          '#include <sqlite3.h>\n#include "a/a.hpp"\n',
            "b.cpp": '#include "support/fake.hpp"\n#include <sqlite3.h>\n',
        }, extra="Tests may also depend on: SQLite.\n")
        p = check_layers.check(self.src)
        self.assertEqual(len(p), 2, p)
        self.assertTrue(p[0].startswith("src/b/b.cpp:1:"), p)  # support/ is for tests only
        self.assertIn("<sqlite3.h>: b may not depend on sqlite", p[1])

    def test_a_test_target_may_link_what_tests_may_depend_on(self):
        self.part("a", "nothing.")
        self.part("b", "nothing.", {
            "CMakeLists.txt": "add_library(portier_b b.cpp)\n"
                              "portier_test(b_tests SOURCES b_test.cpp LIBS portier_b portier_a)\n",
        }, extra="Tests may also depend on: a.\n")
        self.assertEqual(check_layers.check(self.src), [])
        append(os.path.join(self.src, "b", "CMakeLists.txt"),
               "target_link_libraries(portier_b PRIVATE portier_a)\n")
        p = check_layers.check(self.src)
        self.assertEqual(len(p), 1, p)
        self.assertIn("links portier_a: b may not depend on a", p[0])


if __name__ == "__main__":
    unittest.main()
