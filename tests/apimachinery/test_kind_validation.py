"""Per-kind validation: name rules, spec rules and update rules of built-in kinds."""

import copy

import pytest

from apimachinery.errors import CauseType, InvalidError
from apimachinery.kinds.validation import name_rule, validate, validate_update


def pod(**spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], **spec},
    }


def template(labels, **spec):
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def workload(kind, group="apps", **spec):
    return {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "1"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template({"app": "web"}), **spec},
    }


def fields(errs):
    return [e.field for e in errs]


@pytest.mark.parametrize(
    ("group", "kind", "good", "bad"),
    [
        ("", "Pod", "web.v1", "Web"),
        ("", "Namespace", "team-a", "team.a"),
        ("", "Service", "my-svc", "1svc"),
        ("apps", "StatefulSet", "db", "db.primary"),
        ("apps", "Deployment", "web.v1", "web_v1"),
        ("example.com", "Widget", "w.1", "W"),  # unknown kinds: DNS subdomain
    ],
)
def test_name_rules(group, kind, good, bad):
    """ValidateXName per kind: Namespace a DNS label, Service a DNS-1035 label, most a DNS subdomain."""
    rule = name_rule(group, kind)
    assert rule(good, False) == []
    assert rule(bad, False) != []


def test_valid_objects_pass():
    """Well-formed built-in objects raise no errors."""
    assert validate("", "Pod", pod()) == []
    for kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"):
        assert validate("apps", kind, workload(kind)) == [], kind
    assert validate("", "Namespace", {"metadata": {"name": "prod"}}) == []
    assert validate("", "Node", {"metadata": {"name": "node-1.example"}}) == []


def test_pod_with_three_problems_reports_all_three():
    """A Pod missing an image, with a bad container name and a bad label gets every error, with kube's paths."""
    obj = pod()
    obj["metadata"]["labels"] = {"app": "bad value!"}
    obj["spec"]["containers"] = [{"name": "web"}, {"name": "Side_Car", "image": "busybox"}]
    errs = validate("", "Pod", obj)
    assert fields(errs) == ["metadata.labels", "spec.containers[0].image", "spec.containers[1].name"]
    err = InvalidError.for_object("Pod", "", "web-0", errs)
    assert err.code == 422
    assert str(err) == (
        'Pod "web-0" is invalid: ['
        'metadata.labels: Invalid value: "bad value!": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue' or 'my_value' or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'), "
        "spec.containers[0].image: Required value, "
        'spec.containers[1].name: Invalid value: "Side_Car": a lowercase RFC 1123 label must consist of lower '
        "case alphanumeric characters or '-', and must start and end with an alphanumeric character "
        "(e.g. 'my-name' or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')]"
    )
    assert [c["field"] for c in err.causes] == fields(errs)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": []}, [(CauseType.REQUIRED, "spec.containers")]),
        (
            {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]},
            [(CauseType.DUPLICATE, "spec.containers[1].name")],
        ),
        (
            {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}, {}]}]},
            [
                (CauseType.INVALID, "spec.containers[0].ports[0].containerPort"),
                (CauseType.REQUIRED, "spec.containers[0].ports[1].containerPort"),
            ],
        ),
        (
            {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]},
            [(CauseType.NOT_SUPPORTED, "spec.containers[0].ports[0].protocol")],
        ),
        ({"restartPolicy": "Sometimes"}, [(CauseType.NOT_SUPPORTED, "spec.restartPolicy")]),
        ({"activeDeadlineSeconds": 0}, [(CauseType.INVALID, "spec.activeDeadlineSeconds")]),
    ],
)
def test_pod_spec_rules(spec, expected):
    """ValidatePodSpec subset: containers required, names unique DNS labels, ports 1..65535, known restartPolicy."""
    obj = pod()
    obj["spec"].update(spec)
    assert [(e.type, e.field) for e in validate("", "Pod", obj)] == expected


def test_restart_policy_message():
    """validateRestartPolicy lists the supported values."""
    [err] = validate("", "Pod", pod(restartPolicy="Sometimes"))
    assert (
        str(err)
        == 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    )


def test_namespaced_without_namespace_and_cluster_scoped_with_one():
    """ValidateObjectMeta scope rules: Pods need a namespace, Nodes and Namespaces must not have one."""
    obj = pod()
    del obj["metadata"]["namespace"]
    assert [str(e) for e in validate("", "Pod", obj)] == ["metadata.namespace: Required value"]
    node = {"metadata": {"name": "n1", "namespace": "prod"}}
    assert [str(e) for e in validate("", "Node", node)] == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_deployment_selector_mismatch():
    """A Deployment whose selector does not select its template: `selector` does not match template `labels`."""
    obj = workload("Deployment")
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
    [err] = validate("apps", "Deployment", obj)
    assert str(err) == (
        'spec.template.metadata.labels: Invalid value: {"app": "api"}: `selector` does not match template `labels`'
    )


@pytest.mark.parametrize(
    ("kind", "change", "expected"),
    [
        ("Deployment", {"selector": None}, ["spec.selector"]),
        ("Deployment", {"selector": {}}, ["spec.selector"]),
        ("ReplicaSet", {"replicas": -1}, ["spec.replicas"]),
        (
            "DaemonSet",
            {"template": template({"app": "web"}, restartPolicy="Never")},
            ["spec.template.spec.restartPolicy"],
        ),
        (
            "Deployment",
            {"template": template({"app": "web"}, containers=[{"name": "c"}])},
            ["spec.template.spec.containers[0].image"],
        ),
        ("StatefulSet", {"podManagementPolicy": "Random"}, ["spec.podManagementPolicy"]),
    ],
)
def test_workload_spec_rules(kind, change, expected):
    """apps/v1: selector required and non-empty, replicas >= 0, template a valid pod with restartPolicy Always."""
    obj = workload(kind)
    obj["spec"].update(change)
    if obj["spec"]["selector"] is None:
        del obj["spec"]["selector"]
    assert fields(validate("apps", kind, obj)) == expected


def test_job_and_cronjob_rules():
    """batch/v1: Job template restartPolicy OnFailure or Never (unset defaults to Always); CronJob needs a schedule."""
    job = workload("Job", group="batch")
    del job["spec"]["selector"]  # generated by the Job strategy
    [err] = validate("batch", "Job", job)
    assert str(err) == (
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    )
    job["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert validate("batch", "Job", job) == []
    assert fields(validate("batch", "Job", {"metadata": {"name": "j", "namespace": "a"}, "spec": {}})) == [
        "spec.template"
    ]
    cron = {"metadata": {"name": "c" * 53, "namespace": "a"}, "spec": {"jobTemplate": {"spec": job["spec"]}}}
    assert fields(validate("batch", "CronJob", cron)) == ["metadata.name", "spec.schedule"]


def test_service_rules():
    """ValidateService subset: ports 1..65535, TCP/UDP/SCTP, unique names required with several ports, known type."""
    svc = {
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {
            "type": "Internal",
            "ports": [{"name": "http", "port": 0}, {"name": "http", "port": 81, "protocol": "ICMP"}, {"port": 82}],
        },
    }
    assert [(e.type, e.field) for e in validate("", "Service", svc)] == [
        (CauseType.NOT_SUPPORTED, "spec.type"),
        (CauseType.INVALID, "spec.ports[0].port"),
        (CauseType.DUPLICATE, "spec.ports[1].name"),
        (CauseType.NOT_SUPPORTED, "spec.ports[1].protocol"),
        (CauseType.REQUIRED, "spec.ports[2].name"),
    ]
    ok = {"metadata": {"name": "db", "namespace": "p"}, "spec": {"ports": [{"port": 5432}]}}
    assert validate("", "Service", ok) == []


def test_config_map_and_secret_rules():
    """ValidateConfigMap / ValidateSecret: config keys, and 1 MiB in total (reported on `[]` for ConfigMaps)."""
    cm = {"metadata": {"name": "c", "namespace": "a"}, "data": {"bad/key": "v", "big": "x" * (1024 * 1024)}}
    assert [str(e) for e in validate("", "ConfigMap", cm)][1] == "[]: Too long: must have at most 1048576 bytes"
    assert fields(validate("", "ConfigMap", cm)) == ["data[bad/key]", "[]"]
    secret = {"metadata": {"name": "s", "namespace": "a"}, "data": {"..x": "aGk="}}
    assert fields(validate("", "Secret", secret)) == ["data[..x]"]


def test_lease_rules():
    """ValidateLeaseSpec: leaseDurationSeconds > 0 and leaseTransitions >= 0 when set."""
    lease = {
        "metadata": {"name": "l", "namespace": "kube-system"},
        "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1},
    }
    assert [str(e) for e in validate("coordination.k8s.io", "Lease", lease)] == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ]


MINIMAL_SCHEMA = {"openAPIV3Schema": {"type": "object"}}


def crd(**spec):
    return {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": MINIMAL_SCHEMA}],
            **spec,
        },
    }


def test_crd_rules():
    """CRD validation: name is <plural>.<group>, a dotted group, a known scope, exactly one storage version."""
    assert validate("apiextensions.k8s.io", "CustomResourceDefinition", crd()) == []
    bad = crd(
        group="example",
        scope="Global",
        versions=[{"name": "v1", "schema": MINIMAL_SCHEMA}, {"name": "v1", "schema": MINIMAL_SCHEMA}],
    )
    errs = validate("apiextensions.k8s.io", "CustomResourceDefinition", bad)
    assert [(e.field, e.detail) for e in errs] == [
        ("metadata.name", 'must be spec.names.plural+"."+spec.group'),
        ("spec.group", "should be a domain with at least one dot"),
        ("spec.scope", 'supported values: "Cluster", "Namespaced"'),
        ("spec.versions", "must contain unique version names"),
        ("spec.versions", "must have exactly one version marked as storage version"),
    ]


def test_unknown_kind_is_metadata_only():
    """Custom resources: only ObjectMeta is validated, with DNS-subdomain names."""
    obj = {"metadata": {"name": "Bad"}, "spec": {"anything": [1, 2]}}
    assert fields(validate("example.com", "Widget", obj)) == ["metadata.name"]
    assert fields(validate("example.com", "Widget", obj, namespaced=True)) == ["metadata.name", "metadata.namespace"]


def test_deployment_selector_is_immutable_on_update():
    """apps/v1 Deployment strategy: spec.selector may not change (`field is immutable`)."""
    old = workload("Deployment")
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    [err] = validate_update("apps", "Deployment", new, old)
    assert (err.field, err.detail) == ("spec.selector", "field is immutable")
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert validate_update("apps", "Deployment", scaled, old) == []


def test_job_template_is_immutable_on_update():
    """ValidateJobSpecUpdate: a Job's template may not change."""
    old = workload("Job", group="batch")
    old["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert [(e.field, e.detail) for e in validate_update("batch", "Job", new, old)] == [
        ("spec.template", "field is immutable")
    ]


def test_pod_update_allows_image_changes_only():
    """ValidatePodUpdate: images, activeDeadlineSeconds and added tolerations may change, nothing else."""
    old = pod()
    old["metadata"]["resourceVersion"] = "3"
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    assert validate_update("", "Pod", new, old) == []
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    [err] = validate_update("", "Pod", new, old)
    assert err.field == "spec"
    assert err.type is CauseType.FORBIDDEN
    assert err.detail.startswith("pod updates may not change fields other than `spec.containers[*].image`")


def test_metadata_identity_is_immutable_through_kind_update():
    """validate_update runs ValidateObjectMetaUpdate: renaming a namespace is rejected."""
    old = {"metadata": {"name": "prod", "uid": "1", "resourceVersion": "1"}}
    new = {"metadata": {"name": "prod2", "uid": "1", "resourceVersion": "1"}}
    assert [str(e) for e in validate_update("", "Namespace", new, old)] == [
        'metadata.name: Invalid value: "prod2": field is immutable'
    ]
