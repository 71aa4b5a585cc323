"""The committed manifests, and the Deployment played as real pods (one set per test module)."""

import pytest

from k8s.manifests import load
from k8s.pods import PROBES, PlayedDeployment, wait_for_probe


@pytest.fixture(scope="module")
def manifests():
    return load()


@pytest.fixture(scope="module")
def played(images, manifests):
    deployment = PlayedDeployment(manifests)
    try:
        pods = deployment.up()
        for pod in pods:
            for name in ("db", "api"):
                for probe in PROBES:
                    wait_for_probe(pod, manifests, name, probe)
        yield deployment, pods
    finally:
        deployment.down()
