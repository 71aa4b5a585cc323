"""An ingress stand-in in front of the podman pods: nginx, configured from the committed Ingress and Service.

In a cluster, the Ingress controller routes a path to a Service, and the endpoints controller keeps the
Service's endpoints to the Pods whose readiness probe passes. Here `route_config` derives the nginx
configuration from the same fields (Ingress path and pathType, backend Service name and port, the
Service's targetPort resolved by name on the Deployment's container), and `IngressStandIn.sync` runs
each pod's declared readiness probe and rewrites the upstream list, as the endpoints controller would.
nginx adds an X-Served-By header with the pod address that answered, so the tests can see the spread.
"""

import shutil
import tempfile
from pathlib import Path

from k8s.manifests import Manifests, backend_pod_port
from k8s.pods import KUBE_NETWORK, Pod, run_probe
from support import podman
from support.podman import INGRESS_STANDIN


def route_config(manifests: Manifests, ready: list[Pod]) -> str:
    locations = []
    for rule in manifests["Ingress"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            port = backend_pod_port(manifests, path)
            match = {"Prefix": "", "Exact": "= "}[path["pathType"]]
            servers = "".join(f"        server {pod.ip}:{port};\n" for pod in ready)
            upstream = f"upstream {backend['name'].replace('-', '_')} {{\n{servers}    }}" if ready else ""
            target = (
                f"proxy_pass http://{backend['name'].replace('-', '_')};"
                if ready
                else 'return 503 "no ready endpoints";'
            )
            locations.append(
                (
                    upstream,
                    f"""        location {match}{path["path"]} {{
            {target}
            add_header X-Served-By $upstream_addr always;
            proxy_connect_timeout 2s;
        }}""",
                )
            )
    upstreams = "\n    ".join(u for u, _ in locations if u)
    body = "\n".join(location for _, location in locations)
    return f"""events {{}}
http {{
    access_log off;
    {upstreams}
    server {{
        listen 80;
{body}
    }}
}}
"""


class IngressStandIn:
    def __init__(self, manifests: Manifests, pods: list[Pod], port: int):
        self.manifests, self.pods, self.port = manifests, pods, port
        self.url = f"http://127.0.0.1:{port}"
        self._conf = Path(tempfile.mkdtemp(prefix="ingress-standin-")) / "nginx.conf"
        self._name = f"ingress-standin-{port}"
        self.ready: list[Pod] = []

    def start(self) -> "IngressStandIn":
        self.sync()
        podman.podman(
            "run",
            "-d",
            "--name",
            self._name,
            "--network",
            KUBE_NETWORK,
            "-p",
            f"127.0.0.1:{self.port}:80",
            "-v",
            f"{self._conf}:/etc/nginx/nginx.conf:ro",
            INGRESS_STANDIN,
        )
        return self

    def sync(self) -> list[Pod]:
        """Endpoints stand-in: route only to the pods whose declared readiness probe passes now."""
        self.ready = [pod for pod in self.pods if run_probe(pod, self.manifests, "api", "readinessProbe")]
        config = route_config(self.manifests, self.ready)
        if self._conf.exists() and self._conf.read_text() == config:
            return self.ready  # nothing changed: no reload, so no connection is cut
        # Rewritten in place: the bind mount follows the file's inode.
        with self._conf.open("w") as conf:
            conf.write(config)
        if podman.podman("container", "exists", self._name, check=False).returncode == 0:
            podman.podman("exec", self._name, "nginx", "-s", "reload")
        return self.ready

    def stop(self) -> None:
        podman.podman("rm", "-f", self._name, check=False)
        shutil.rmtree(self._conf.parent, ignore_errors=True)
