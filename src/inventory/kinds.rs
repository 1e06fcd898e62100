//! The built-in kinds a live scan may list: group, versions (preferred first), plural, scope, and
//! whether metadata is all kscope ever reads of them.

/// One listable built-in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: &'static str,
    pub group: &'static str,
    /// Versions kscope can read, newest first. The server's preferred version is used when kscope
    /// can read it, else the first of these the server serves.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub namespaced: bool,
    /// Metadata is all rules read by default (lists ask for `PartialObjectMetadataList`). Secrets
    /// are always listed as metadata: the one exception, Helm release Secrets for `preflight
    /// --helm`, is read by its own request.
    pub metadata_only: bool,
}

const fn k(
    kind: &'static str,
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    namespaced: bool,
    metadata_only: bool,
) -> KindInfo {
    KindInfo {
        kind,
        group,
        versions,
        plural,
        namespaced,
        metadata_only,
    }
}

const FLOWCONTROL: &[&str] = &["v1", "v1beta3", "v1beta2", "v1beta1"];
const RESOURCE: &[&str] = &["v1", "v1beta2", "v1beta1"];

#[rustfmt::skip]
pub const KINDS: &[KindInfo] = &[
    k("ValidatingWebhookConfiguration", "admissionregistration.k8s.io", &["v1"], "validatingwebhookconfigurations", false, false),
    k("MutatingWebhookConfiguration", "admissionregistration.k8s.io", &["v1"], "mutatingwebhookconfigurations", false, false),
    k("APIService", "apiregistration.k8s.io", &["v1"], "apiservices", false, false),
    k("CustomResourceDefinition", "apiextensions.k8s.io", &["v1"], "customresourcedefinitions", false, false),
    k("FlowSchema", "flowcontrol.apiserver.k8s.io", FLOWCONTROL, "flowschemas", false, false),
    k("PriorityLevelConfiguration", "flowcontrol.apiserver.k8s.io", FLOWCONTROL, "prioritylevelconfigurations", false, false),
    k("Service", "", &["v1"], "services", true, false),
    k("EndpointSlice", "discovery.k8s.io", &["v1"], "endpointslices", true, false),
    k("Deployment", "apps", &["v1"], "deployments", true, false),
    k("StatefulSet", "apps", &["v1"], "statefulsets", true, false),
    k("DaemonSet", "apps", &["v1"], "daemonsets", true, true),
    k("ReplicaSet", "apps", &["v1"], "replicasets", true, true),
    k("PodDisruptionBudget", "policy", &["v1"], "poddisruptionbudgets", true, false),
    k("Node", "", &["v1"], "nodes", false, true),
    k("Namespace", "", &["v1"], "namespaces", false, true),
    k("CronJob", "batch", &["v1"], "cronjobs", true, false),
    k("Job", "batch", &["v1"], "jobs", true, false),
    k("Pod", "", &["v1"], "pods", true, true),
    k("ConfigMap", "", &["v1"], "configmaps", true, true),
    k("Secret", "", &["v1"], "secrets", true, true),
    k("ServiceAccount", "", &["v1"], "serviceaccounts", true, true),
    k("Ingress", "networking.k8s.io", &["v1"], "ingresses", true, true),
    k("IngressClass", "networking.k8s.io", &["v1"], "ingressclasses", false, true),
    k("NetworkPolicy", "networking.k8s.io", &["v1"], "networkpolicies", true, true),
    k("HorizontalPodAutoscaler", "autoscaling", &["v2"], "horizontalpodautoscalers", true, true),
    k("Role", "rbac.authorization.k8s.io", &["v1"], "roles", true, true),
    k("RoleBinding", "rbac.authorization.k8s.io", &["v1"], "rolebindings", true, true),
    k("ClusterRole", "rbac.authorization.k8s.io", &["v1"], "clusterroles", false, true),
    k("ClusterRoleBinding", "rbac.authorization.k8s.io", &["v1"], "clusterrolebindings", false, true),
    k("PriorityClass", "scheduling.k8s.io", &["v1"], "priorityclasses", false, true),
    k("RuntimeClass", "node.k8s.io", &["v1"], "runtimeclasses", false, true),
    k("StorageClass", "storage.k8s.io", &["v1"], "storageclasses", false, true),
    k("CSIDriver", "storage.k8s.io", &["v1"], "csidrivers", false, true),
    k("CSINode", "storage.k8s.io", &["v1"], "csinodes", false, true),
    k("CSIStorageCapacity", "storage.k8s.io", &["v1"], "csistoragecapacities", true, true),
    k("VolumeAttachment", "storage.k8s.io", &["v1"], "volumeattachments", false, true),
    k("VolumeAttributesClass", "storage.k8s.io", &["v1"], "volumeattributesclasses", false, true),
    k("ValidatingAdmissionPolicy", "admissionregistration.k8s.io", &["v1"], "validatingadmissionpolicies", false, true),
    k("ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io", &["v1"], "validatingadmissionpolicybindings", false, true),
    k("CertificateSigningRequest", "certificates.k8s.io", &["v1"], "certificatesigningrequests", false, true),
    k("Lease", "coordination.k8s.io", &["v1"], "leases", true, true),
    k("IPAddress", "networking.k8s.io", &["v1"], "ipaddresses", false, true),
    k("ServiceCIDR", "networking.k8s.io", &["v1"], "servicecidrs", false, true),
    k("DeviceClass", "resource.k8s.io", RESOURCE, "deviceclasses", false, true),
    k("ResourceClaim", "resource.k8s.io", RESOURCE, "resourceclaims", true, true),
    k("ResourceClaimTemplate", "resource.k8s.io", RESOURCE, "resourceclaimtemplates", true, true),
    k("ResourceSlice", "resource.k8s.io", RESOURCE, "resourceslices", false, true),
    // the Prometheus operator's CRD: listed where installed, a rule on it is skipped ("not served") elsewhere
    k("PrometheusRule", "monitoring.coreos.com", &["v1"], "prometheusrules", true, false),
];

/// The kube-system ConfigMaps that hold components' configuration files (kube-proxy's, the
/// kubelet's as kubeadm keeps it, kubeadm's ClusterConfiguration). `kubelet-config-1.NN` is the
/// name kubeadm used before 1.24.
pub const COMPONENT_CONFIGMAPS: &[&str] = &[
    "kube-proxy",
    "kube-proxy-config",
    "kubelet-config",
    "kubeadm-config",
];

/// The annotation the kubelet puts on the mirror Pod of a static Pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

impl KindInfo {
    /// Listed metadata-only on a live cluster whatever a rule asks: Secret data is never listed
    /// (Helm releases are read by their own request), and Pods and ConfigMaps are too many and
    /// too big to read whole; the few of them that rules read whole are fetched one by one (see
    /// [`KindInfo::read_whole`]).
    pub fn always_metadata(&self) -> bool {
        matches!(self.kind, "Secret" | "Pod" | "ConfigMap")
    }

    /// Which objects of an always-metadata kind are read whole (one GET each) when a rule asks
    /// for the kind whole: the static control-plane Pods (mirror Pods in kube-system, whose
    /// command lines carry the components' flags and feature gates) and the components'
    /// configuration ConfigMaps in kube-system. Never a Secret.
    pub fn read_whole(&self, obj: &super::Obj) -> bool {
        if obj.namespace.as_deref() != Some("kube-system") {
            return false;
        }
        match self.kind {
            "Pod" => obj.annotation(MIRROR_POD_ANNOTATION).is_some(),
            "ConfigMap" => COMPONENT_CONFIGMAPS.iter().any(|n| {
                obj.name == *n
                    || (*n == "kubelet-config" && obj.name.starts_with("kubelet-config-1."))
            }),
            _ => false,
        }
    }
}

/// The table entry for a kind.
pub fn info(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// `apiVersion` for a group and version ("v1" for the core group).
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}
