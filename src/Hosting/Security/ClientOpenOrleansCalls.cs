using Granary.Security;

namespace Granary.Server.Security;

/// <summary>
/// The methods of Orleans' own interfaces (system targets, grain extensions, the management grain) that
/// a client may call, with the permission each needs (null: any client connection); every other method
/// of a non-Granary interface is refused to clients. Calls between silos are not limited by this list.
/// Keys are <c>Namespace.Interface.Method</c>, or <c>Namespace.Interface</c> for all its methods.
/// </summary>
/// <example><code>
/// silo.Services.Configure&lt;ClientOpenOrleansCalls&gt;(o => o.Methods["Orleans.Runtime.TestHooks.ITestHooks"] = null);
/// </code></example>
public sealed class ClientOpenOrleansCalls
{
    /// <summary>A grain timer's tick: a message a silo builds for its own activation (never received from the network).</summary>
    internal const string TimerTick = "Orleans.Runtime.IGrainTimerInvoker.InvokeCallbackAsync";

    /// <summary>
    /// Open methods. Default: the cluster manifest (every client reads it from its gateway at start-up
    /// and on changes: any client), and the management grain's read-only views of the cluster used by
    /// <c>granary cluster status</c> (<see cref="Permission.ClusterRead"/>).
    /// </summary>
    public Dictionary<string, Permission?> Methods { get; } = new(StringComparer.Ordinal)
    {
        ["Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifest"] = null,
        ["Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifestUpdate"] = null,
        ["Orleans.Runtime.IManagementGrain.GetHosts"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetDetailedHosts"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetActivationAddress"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetSimpleGrainStatistics"] = Permission.ClusterRead,
    };

    /// <summary>True (with the permission, null for any client) when clients may call <paramref name="method"/> of <paramref name="interfaceName"/>.</summary>
    internal bool TryGet(string interfaceName, string method, out Permission? permission) =>
        Methods.TryGetValue($"{interfaceName}.{method}", out permission) || Methods.TryGetValue(interfaceName, out permission);
}
