namespace Granary.Security;

/// <summary>
/// The <see cref="Permission"/> a grain method needs. On an interface it is the default of the
/// interface's methods; on a method it overrides that default.
/// </summary>
/// <param name="permission">The permission.</param>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class RequiresAttribute(Permission permission) : Attribute
{
    /// <summary>The permission.</summary>
    public Permission Permission { get; } = permission;
}
