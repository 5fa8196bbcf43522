using ReverseSD.Cli;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class ScratchFolderTests
{
    [Fact]
    public void RemoveStaleDeletesOnlyTheFoldersOfProcessesThatAreNoLongerRunning()
    {
        using var dir = new TempDirectory();
        string guid = Guid.NewGuid().ToString("N");
        // 999999999 is above any Linux pid_max (at most 4194304): no process has it.
        string dead = Directory.CreateDirectory(dir.File($"reversesd-999999999-{guid}")).FullName;
        File.WriteAllText(Path.Combine(dead, "model.onnx"), "left by a killed run");
        string ours = ScratchFolder.Create(dir.Path);
        string notOurs = Directory.CreateDirectory(dir.File($"reversesd-bench-predict-{guid}")).FullName;
        string otherName = Directory.CreateDirectory(dir.File($"reversesd-999999999-notaguid")).FullName;

        int removed = ScratchFolder.RemoveStale(dir.Path);

        Assert.Equal(1, removed);
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(ours));
        Assert.True(Directory.Exists(notOurs));
        Assert.True(Directory.Exists(otherName));
    }
}
