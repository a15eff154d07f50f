using Granary.Errors;

namespace Granary.Security;

/// <summary>
/// A call was refused before it reached the grain (code <c>PERMISSION_DENIED</c>, or
/// <c>UNAUTHENTICATED</c> when the caller presented no valid credential); nothing was changed.
/// </summary>
[GenerateSerializer, Alias("granary.error.permission-denied")]
public sealed class PermissionDeniedException : GranaryException
{
    /// <summary>Creates the error for a call to <paramref name="method"/> that needed <paramref name="permission"/>.</summary>
    public PermissionDeniedException(string code, string method, Permission permission, string message)
        : base(code, message)
    {
        Method = method;
        Permission = permission;
    }

    /// <summary>Required by serializers.</summary>
    public PermissionDeniedException()
        : this(ErrorCodes.PermissionDenied, "unknown", Permission.Internal, "permission denied")
    {
    }

    /// <summary>The refused method, as <c>Interface.Method</c>.</summary>
    [Id(0)]
    public string Method { get; private set; }

    /// <summary>The permission the method needs.</summary>
    [Id(1)]
    public Permission Permission { get; private set; }
}
