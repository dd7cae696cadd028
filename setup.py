"""Packaging for wsframework (RFC 6455 WebSockets on gevent)."""

import os
import re

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "wsframework", "version.py"), encoding="utf-8") as f:
    VERSION = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()



class OptionalBuildExt(build_ext):
    """Build the C accelerator when a compiler is there; without one the
    pure-Python code serves, so installing never fails because of it."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers...
            self.warn(f"wsframework.protocol._speedups not built ({exc}); using pure Python")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"wsframework.protocol._speedups not built ({exc}); using pure Python")


EXT_MODULES = [] if os.environ.get("WSFRAMEWORK_NO_EXTENSIONS") else [
    Extension("wsframework.protocol._speedups", ["wsframework/protocol/_speedups.c"], optional=True),
]

setup(
    name="wsframework",
    version=VERSION,
    description="RFC 6455 WebSocket server and client for gevent, a port of WebSocket-Node",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["wsframework", "wsframework.*"]),
    package_data={"wsframework.apps.chat": ["static/*"]},
    ext_modules=EXT_MODULES,
    cmdclass={"build_ext": OptionalBuildExt},
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
            "redis>=4.5",
            "selenium>=4.11",
            "websocket-client>=1.6",
            "python-socks>=2.4,<4",
            "pproxy>=2.7",
            "prometheus_client>=0.17",
            "gunicorn>=22",
            "django>=4.2",
        ],
        "flask": ["flask>=2.2"],
        "gunicorn": ["gunicorn>=22"],
        "django": ["django>=4.2"],
        "redis": ["redis>=4.5"],
        "socks": ["python-socks>=2.4,<4"],
        "metrics": ["prometheus_client>=0.17"],
        "docs": ["sphinx>=7.4", "myst-parser>=3.0", "furo>=2024.1.29", "sphinx-design>=0.6"],
        "bench": ["matplotlib>=3.5"],
    },
    entry_points={"console_scripts": ["wsframework=wsframework.apps.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: gevent",
        "Topic :: Internet :: WWW/HTTP",
    ],
)
