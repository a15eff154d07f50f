using System.Reflection;

namespace Granary.Security;

/// <summary>
/// Reads the <see cref="Permission"/> a grain method needs from its <see cref="RequiresAttribute"/>:
/// the method's own, else its declaring interface's. One rule for the silo's call filter and the
/// convention test that checks every method of every Granary grain interface has one.
/// </summary>
public static class GrainPermissions
{
    /// <summary>
    /// The permission of <paramref name="method"/> (a method of a grain interface), or null when
    /// neither the method nor its declaring interface is marked.
    /// </summary>
    /// <example><code>
    /// var permission = GrainPermissions.Of(typeof(ICacheShardGrain).GetMethod(nameof(ICacheShardGrain.ImportAsync))!); // Internal
    /// </code></example>
    public static Permission? Of(MethodInfo method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return method.GetCustomAttribute<RequiresAttribute>()?.Permission
            ?? method.DeclaringType?.GetCustomAttribute<RequiresAttribute>()?.Permission;
    }

    /// <summary>True for an interface declared in the Granary contracts (its methods must be marked).</summary>
    public static bool IsGranaryInterface(Type? type) => type is not null && type.Assembly == typeof(GrainPermissions).Assembly;
}
