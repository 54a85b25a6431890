"""SPDX detection from license files, READMEs and file headers; permissiveness ranks."""

from __future__ import annotations

import pytest

from codelm.data.licenses import (
    detect_license_text,
    detect_readme_license,
    file_spdx,
    rank,
    repo_license,
    repo_license_from_files,
)
from codelm.data.sources import stdlib_root

MIT = """MIT License

Copyright (c) 2024 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
"""
APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/
"""
BSD3 = """Copyright (c) 2020, Someone
Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products
"""
BSD2 = BSD3.split("3. Neither")[0]
GPL3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007
 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
"""
GPL2 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991
"""
LGPL21 = """                  GNU LESSER GENERAL PUBLIC LICENSE
                       Version 2.1, February 1999
  This license ... the GNU General Public License ...
"""
AGPL = "                    GNU AFFERO GENERAL PUBLIC LICENSE\n                       Version 3, 19 November 2007\n"
MPL = "Mozilla Public License Version 2.0\n==================================\n"
UNLICENSE = "This is free and unencumbered software released into the public domain.\n"
ISC = "Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee\n"


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        (MIT, "MIT"), (APACHE, "Apache-2.0"), (BSD3, "BSD-3-Clause"), (BSD2, "BSD-2-Clause"),
        (GPL3, "GPL-3.0"), (GPL2, "GPL-2.0"), (LGPL21, "LGPL-2.1"), (AGPL, "AGPL-3.0"),
        (MPL, "MPL-2.0"), (UNLICENSE, "Unlicense"), (ISC, "ISC"),
        ("SPDX-License-Identifier: Apache-2.0 OR MIT\n", "Apache-2.0 OR MIT"),
        ("All rights reserved.\n", None),
    ],
)
def test_license_texts(text, spdx):
    assert detect_license_text(text) == spdx


def test_first_license_in_a_combined_file_wins():
    # a project license followed by bundled third-party notices
    assert detect_license_text(MIT + "\n\nThird-party code:\n" + GPL3) == "MIT"
    assert detect_license_text("Dual licensed. See below.\n" + APACHE + "\n" + MIT) == "Apache-2.0"


def test_cpython_license_file_is_psf():
    # mentions "GPL-compatible" many times before the PSF license itself
    assert repo_license(stdlib_root()) == "PSF-2.0"


@pytest.mark.parametrize(
    ("readme", "spdx"),
    [
        ("# Tool\n\nLicensed under the MIT License.\n", "MIT"),
        ("## License\n\nLicense: Apache-2.0\n", "Apache-2.0"),
        ("This project is licensed under the BSD-3-Clause license\n", "BSD-3-Clause"),
        ("Released under the GPLv3.\n", None),  # no "licensed under" / "License:" statement
        ("# Tool\n\nNo license information.\n", None),
    ],
)
def test_readme_statements(readme, spdx):
    assert detect_readme_license(readme) == spdx


def test_repo_license_prefers_license_files_over_readme():
    assert repo_license_from_files({"README.md": "Licensed under the MIT License.", "LICENSE": GPL3}) == "GPL-3.0"
    assert repo_license_from_files({"README.md": "Licensed under the MIT License."}) == "MIT"
    assert repo_license_from_files({"COPYING.txt": GPL2}) == "GPL-2.0"
    assert repo_license_from_files({"main.py": MIT}) == "unknown"


def test_spdx_file_headers():
    assert file_spdx("#!/usr/bin/env python\n# SPDX-License-Identifier: MIT\nimport os\n") == "MIT"
    assert file_spdx("// SPDX-License-Identifier: GPL-2.0-only\n") == "GPL-2.0"
    assert file_spdx("/* SPDX-License-Identifier: (Apache-2.0 OR MIT) */\n") == "Apache-2.0 OR MIT"
    assert file_spdx("x = 1\n" * 40 + "# SPDX-License-Identifier: MIT\n") is None  # only the first 30 lines


def test_permissiveness_ranks():
    assert [rank(x) for x in ("MIT", "PSF-2.0", "LGPL-2.1", "GPL-3.0", "unknown", "Proprietary")] == [0, 0, 1, 2, 3, 3]
    assert rank("GPL-2.0 OR MIT") == 0  # the most permissive alternative
    assert rank("MIT AND GPL-3.0") == 2  # the least permissive part
    assert rank("GPL-2.0 WITH Classpath-exception-2.0") == 2
