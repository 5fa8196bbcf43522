namespace ReverseSD.MLNet.Tests;

/// <summary>Locates the read-only reference data at ../shared/data beside the repository (absent on a user's fresh clone).</summary>
internal static class SharedData
{
    /// <summary>The repository root (the folder holding ReverseSD.MLNet.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Full path of ../shared/data, whether or not it exists.</summary>
    public static string Root { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));

    /// <summary>True when the reference data folder is present.</summary>
    public static bool Available => Directory.Exists(Root);

    /// <summary>Message used when a test skips for lack of the reference data.</summary>
    public static string SkipReason => $"reference data not found at {Root} (it sits beside the repository as ../shared/data in CI)";

    /// <summary>Path of a file or folder inside the reference data.</summary>
    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ReverseSD.MLNet.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("ReverseSD.MLNet.sln not found above " + AppContext.BaseDirectory);
    }
}
