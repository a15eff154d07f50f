using System.Reflection;
using Granary.Security;
using Orleans;

namespace Granary.Tests.Conventions;

/// <summary>
/// Every method of every grain interface in the product assemblies needs exactly one
/// <see cref="Permission"/> (its own <see cref="RequiresAttribute"/> or its interface's), so that
/// the silo's wall can tell client-callable methods from steps between silos; and grain interfaces
/// live in the contracts, where the wall looks for the marks.
/// </summary>
public sealed class GrainPermissionConventionTests
{
    private static IEnumerable<Type> GrainInterfaces() =>
        ProductAssemblies.AllWrittenTypes().Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t));

    [Fact]
    public void Every_grain_method_resolves_to_exactly_one_permission()
    {
        var interfaces = GrainInterfaces().ToList();
        var methods = interfaces.SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)).ToList();
        var unmarked = methods.Where(m => GrainPermissions.Of(m) is null).Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").ToList();
        var doubled = methods.Where(m => m.GetCustomAttributes<RequiresAttribute>().Count() > 1).Select(m => $"{m.DeclaringType!.FullName}.{m.Name}").ToList();

        Assert.True(interfaces.Count >= 30, $"only {interfaces.Count} grain interfaces found");
        Assert.True(unmarked.Count == 0, "grain methods without a permission (add [Requires(Permission.X)] to the method or its interface):\n" + string.Join('\n', unmarked));
        Assert.Empty(doubled);
        Assert.Contains(methods, m => GrainPermissions.Of(m) == Permission.Internal);
        Assert.Contains(methods, m => GrainPermissions.Of(m) is { } p && p != Permission.Internal);
    }

    [Fact]
    public void Grain_interfaces_are_declared_in_the_contracts()
    {
        var elsewhere = GrainInterfaces().Where(t => !GrainPermissions.IsGranaryInterface(t)).Select(t => t.FullName!).ToList();
        Assert.True(elsewhere.Count == 0, "grain interfaces outside Granary.Contracts (the wall reads permissions only there):\n" + string.Join('\n', elsewhere));
    }
}
