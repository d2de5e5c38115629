#!/usr/bin/python3
"""The Python Kubernetes client (Debian's python3-kubernetes) against a live nodelet node, run by
agent/tests/kubectl_e2e.rs with the admin kubeconfig nodelet wrote (TLS, client certificate):
reads (nodes, pods, status, logs, events), a watch, writes (create, patch, delete) and exec over
WebSocket with its exit code. Usage: client.py KUBECONFIG IMAGE. Prints "ok" at the end; any
failure is an exception (exit 1)."""

import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

kubeconfig, image = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=kubeconfig)
v1 = client.CoreV1Api()

# Reads.
nodes = v1.list_node().items
assert [n.metadata.name for n in nodes] == ["node1"], nodes
assert any(c.type == "Ready" and c.status == "True" for c in nodes[0].status.conditions)
pods = v1.list_namespaced_pod("default").items
names = [p.metadata.name for p in pods]
assert "shell-node1" in names, names
shell = v1.read_namespaced_pod("shell-node1", "default")
assert shell.status.phase == "Running" and shell.metadata.uid and shell.metadata.resource_version
assert v1.read_namespaced_pod_status("shell-node1", "default").status.phase == "Running"
assert v1.list_pod_for_all_namespaces(label_selector="app=shell").items[0].metadata.name == "shell-node1"
assert v1.list_pod_for_all_namespaces(field_selector="status.phase=Succeeded").items[0].metadata.name == "done-node1"
log = v1.read_namespaced_pod_log("shell-node1", "default", container="main", tail_lines=1)
assert log == "shell says hi\n", repr(log)
events = v1.list_namespaced_event("default", field_selector="involvedObject.name=shell-node1").items
assert any(e.reason == "Started" for e in events), [e.reason for e in events]
try:
    v1.read_namespaced_pod("nope", "default")
    raise AssertionError("nope found")
except ApiException as e:
    assert e.status == 404 and '"reason":"NotFound"' in e.body, e.body

# Writes: create, watch it come up, patch, exec, delete.
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="py", labels={"made-by": "python"}),
    spec=client.V1PodSpec(
        termination_grace_period_seconds=1,
        containers=[client.V1Container(
            name="app", image=image, image_pull_policy="Never",
            command=["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"])]))
created = v1.create_namespaced_pod("default", pod)
assert created.metadata.name == "py"
running = False
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=py", timeout_seconds=40):
    if ev["object"].status and ev["object"].status.phase == "Running":
        running = True
        w.stop()
assert running, "py never Running"
try:
    v1.create_namespaced_pod("default", pod)
    raise AssertionError("created twice")
except ApiException as e:
    assert e.status == 409 and "AlreadyExists" in e.body, e.body
bad = client.V1Pod(metadata=client.V1ObjectMeta(name="bad"),
                   spec=client.V1PodSpec(containers=[client.V1Container(name="app")]))
try:
    v1.create_namespaced_pod("default", bad)
    raise AssertionError("invalid pod created")
except ApiException as e:
    assert e.status == 422 and "spec.containers[0].image" in e.body, e.body
v1.patch_namespaced_pod("py", "default", {"metadata": {"labels": {"patched": "yes"}}})
deadline = time.time() + 40
while True:
    p = v1.read_namespaced_pod("py", "default")
    if (p.metadata.labels or {}).get("patched") == "yes" and p.status.phase == "Running":
        break
    assert time.time() < deadline, p.metadata.labels
    time.sleep(0.2)
out = stream(v1.connect_get_namespaced_pod_exec, "py", "default",
             command=["/bin/busybox", "echo", "from python"], stderr=True, stdin=False, stdout=True, tty=False)
assert out == "from python\n", repr(out)
resp = stream(v1.connect_get_namespaced_pod_exec, "py", "default",
              command=["/bin/busybox", "sh", "-c", "exit 3"], stderr=True, stdin=False, stdout=True,
              tty=False, _preload_content=False)
resp.run_forever(timeout=20)
assert resp.returncode == 3, resp.returncode
v1.delete_namespaced_pod("py", "default")
deadline = time.time() + 30
while True:
    try:
        v1.read_namespaced_pod("py", "default")
    except ApiException as e:
        assert e.status == 404
        break
    assert time.time() < deadline, "py not deleted"
    time.sleep(0.2)
print("ok")
