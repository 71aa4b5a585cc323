"""scripts/deploy.sh's image build, for real: podman builds api/ through the script, `podman save` writes the
archive, and the kind TEST DOUBLE (tests/doubles) reads it. The rest of deploy.sh is tested against the
doubles in tests/scripts/test_deploy.py; this test lives here because it drives podman."""

import pytest

from devstack import ROOT
from doubles.cluster import DEPLOY_SETTINGS, kind_cluster
from k8s.manifests import container
from support import podman

pytestmark = pytest.mark.container


def test_deploy_builds_the_image_for_real_and_the_cluster_gets_what_the_deployment_runs(
    images, api, tmp_path
):
    cluster = kind_cluster(tmp_path)
    # This machine's builds reach PyPI through a proxy whose CA only the host trusts: BUILD_FLAGS passes the
    # same build-time mounts as tests/support/podman.py, and api/Dockerfile stays as it is.
    built = []
    try:
        with podman.build_time_mounts() as mounts:
            settings = {
                **dict.fromkeys(DEPLOY_SETTINGS, ""),
                "CONTAINER_ENGINE": "podman",
                "BUILD_FLAGS": " ".join(["--pull=never", *mounts]),
                "BASE_URL": api.base_url,
            }
            result = cluster.run(ROOT / "scripts" / "deploy.sh", **settings)
        assert result.returncode == 0, result.stderr
        (load,) = cluster.calls("kind")
        built = load["images"]
        deployment = cluster.state["objects"]["default/Deployment/api-mysql"]
        assert built == [container({"Deployment": deployment}, "api")["image"]]
        image_id = podman.podman("image", "inspect", "--format", "{{.Id}}", built[0]).stdout.strip()
        assert built[0] == f"localhost/user-api:{image_id[:12]}"  # tagged by its content
    finally:
        for name in (*built, "localhost/user-api:latest"):
            podman.podman("untag", name, name, check=False)
