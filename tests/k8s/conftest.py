"""The committed manifests, and the Deployment played as real pods: one set for the whole package.

test_pods.py and test_ingress_path.py share the set; a test that breaks a pod (stops its MySQL) brings
it back and waits until it is ready again before it ends.
"""

import pytest

from k8s.manifests import load
from k8s.pods import PlayedDeployment, Pod, wait_for_probe


@pytest.fixture(scope="package")
def manifests():
    return load()


@pytest.fixture(scope="package")
def played(images, manifests) -> list[Pod]:
    deployment = PlayedDeployment(manifests)
    try:
        pods = deployment.up()
        for pod in pods:
            for name in ("db", "api"):  # a Pod is Ready when all its containers are
                wait_for_probe(pod, manifests, name, "readinessProbe")
        yield pods
    finally:
        deployment.down()
    # Taking the pods down leaves nothing of this run behind.
    assert deployment.leftovers() == []
