"""Packaging for wsframework (RFC 6455 WebSockets on gevent)."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "wsframework", "version.py"), encoding="utf-8") as f:
    VERSION = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

setup(
    name="wsframework",
    version=VERSION,
    description="RFC 6455 WebSocket server and client for gevent, a port of WebSocket-Node",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["wsframework", "wsframework.*"]),
    python_requires=">=3.10",
    install_requires=["gevent>=22.10", "greenlet>=2.0"],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-gevent>=1.1",
            "websockets>=12",
            "hypothesis>=6",
            "trustme>=1.0",
            "flask>=2.2",
        ],
        "flask": ["flask>=2.2"],
    },
    entry_points={"console_scripts": ["wsframework=wsframework.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: gevent",
        "Topic :: Internet :: WWW/HTTP",
    ],
)
