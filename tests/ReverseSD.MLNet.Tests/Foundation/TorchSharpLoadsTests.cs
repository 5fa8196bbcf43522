using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Tests.Foundation;

public sealed class TorchSharpLoadsTests
{
    [Fact]
    public void AdamStepsOnATinyLinearLayerReduceItsLoss()
    {
        using var gate = TorchRandom.Gate.EnterScope();   // torch's default generator is process-wide
        torch.manual_seed(7);
        using var layer = nn.Linear(4, 1);
        using var x = torch.randn(32, 4);
        using var w = torch.tensor(new float[] { 1f, -2f, 0.5f, 3f }).reshape(4, 1);
        using var y = x.matmul(w);
        using var optimizer = optim.Adam(layer.parameters(), lr: 0.05);

        float Loss()
        {
            using var scope = torch.NewDisposeScope();
            return nn.functional.mse_loss(layer.call(x), y).item<float>();
        }

        float before = Loss();
        for (int step = 0; step < 50; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(layer.call(x), y);
            loss.backward();
            optimizer.step();
        }
        float after = Loss();
        Assert.True(after < before * 0.5f, $"loss {before} -> {after}");
    }
}
