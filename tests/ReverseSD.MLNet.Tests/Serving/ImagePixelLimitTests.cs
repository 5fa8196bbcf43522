using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Serving;

[Collection(ServeCollection.Name)]
[Trait("Category", "Slow")]
public sealed class ImagePixelLimitTests(ServeFixture fixture)
{
    [Fact]
    public void AHeaderDeclaringTooManyPixelsIsRefusedFromTheBytesAndFromTheFile()
    {
        byte[] bomb = ServeFixture.BombPng();
        var problem = ImageValidation.FindProblem(bomb);
        Assert.NotNull(problem);
        Assert.Equal(ImageProblemKind.TooManyPixels, problem.Kind);
        Assert.Contains("20000 × 20000", problem.Message);

        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("bomb.png"), bomb);
        Assert.Contains("20000 × 20000", ImageValidation.FindProblem(dir.File("bomb.png")));
        // Just under the limit passes the header check.
        Assert.Null(ImageValidation.FindProblem(ServeFixture.BombPng(7000, 7000)));
    }

    [Fact]
    public void PredictSkipsAndCountsADecompressionBombBesideAGoodImage()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("bomb.png"), ServeFixture.BombPng());
        var ml = new MLContext(1);
        var model = ReverseSdModel.Load(ml, fixture.Tiny.Model);
        try
        {
            var predictions = ReverseSdModel.Predict(ml, model, [fixture.Images[0], dir.File("bomb.png")], 3, out var skipped);
            Assert.Single(predictions);
            Assert.Contains("20000 × 20000", Assert.Single(skipped).Reason);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void TrainingDataSkipsAndCountsADecompressionBomb()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("bomb.png"), ServeFixture.BombPng());
        // The feature cache (training, evaluation) filters its images through the same check.
        var unreadable = ImageValidation.FindUnreadable([fixture.Images[0], dir.File("bomb.png")]);
        Assert.Equal(dir.File("bomb.png"), Assert.Single(unreadable).Path);
    }

    [Fact]
    public void JpegDimensionsComeFromTheStartOfFrameHeader()
    {
        using var bitmap = new SKBitmap(37, 23);
        bitmap.Erase(SKColors.CornflowerBlue);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        var check = ImageValidation.CheckStructure(data.ToArray());
        Assert.True(check.IsValid, check.Problem);
        Assert.Equal((37, 23), (check.Width, check.Height));
        var truncated = ImageValidation.CheckStructure(data.ToArray()[..^20]);
        Assert.False(truncated.IsValid);
        Assert.Equal((37, 23), (truncated.Width, truncated.Height));
    }
}
