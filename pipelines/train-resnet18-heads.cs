// The single model, in the shape of Model Builder's generated code: one ML.NET estimator chain
// (image path -> ResNet18 features -> heads), one Fit, one Save, then the PredictionEngine code an app uses.
// Run it from the repository root (it builds the library on first use):
//   dotnet run pipelines/train-resnet18-heads.cs                                   # generates a small benchmark first
//   dotnet run pipelines/train-resnet18-heads.cs -- DATA_DIR model.zip [EPOCHS]    # your own image folder (train/validation/test)
// Edit it freely: change the backbone, the head configuration (paper Fig. 3), λ, epochs, ...
#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false

using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

string dataDirectory = args.Length > 0 ? args[0] : Path.Combine("out", "pipeline-benchmark");
string modelPath = args.Length > 1 ? args[1] : Path.Combine("out", "pipeline-model.zip");
int epochs = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 20;
if (!File.Exists(Path.Combine(dataDirectory, "train", ImageFolderDataset.MetadataFileName)))
{
    Console.WriteLine($"Generating a small benchmark in {dataDirectory} ...");
    SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 600, Validation = 100, Test = 100, Seed = 1 }, dataDirectory);
}

var mlContext = new MLContext(seed: 1);
IDataView train = ImageFolderDataset.Load(mlContext, dataDirectory, "train");          // ImagePath, Prompt, ...
IDataView validation = ImageFolderDataset.Load(mlContext, dataDirectory, "validation");
IDataView test = ImageFolderDataset.Load(mlContext, dataDirectory, "test");

// Image side: ImagePath -> 512-d ResNet18 features (ML.NET's LoadImages -> ResizeImages -> ExtractPixels -> ApplyOnnxModel).
var backbone = mlContext.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18, "ImageFeatures", "ImagePath");

// Heads (paper §3, Fig. 3): the label is the raw Prompt text; the trainer derives the all-MiniLM-L6-v2 targets (Eq. 1) and the
// 1,000-word vocabulary labels (Eq. 2) itself. Configuration 3 feeds the predicted embedding to the vocabulary head; λ = 0.1.
// The validation images (through the same backbone) pick the best epoch.
// A fitted ONNX stage holds an ONNX Runtime session and a temporary copy of its graph: dispose what you fit (`using`).
using var validationBackbone = backbone.Fit(validation);
var heads = mlContext.Regression.Trainers.PromptEmbeddingHeads(new PromptEmbeddingHeadsTrainer.Options
{
    LabelColumnName = "Prompt",
    Configuration = HeadConfiguration.EmbeddingFeedsVocabulary,
    VocabularyWeight = 0.1f,
    VocabularySize = 1000,
    NumberOfEpochs = epochs,
    Seed = 1,
    ValidationData = mlContext.Data.Cache(validationBackbone.Transform(validation)),
});

// One estimator, one Fit, one Save.
var pipeline = backbone.Append(heads);
Console.WriteLine("Training ...");
using var model = pipeline.Fit(train);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
mlContext.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"saved {modelPath}");

// Evaluate on the test split: mean cosine between predicted and true prompt embeddings.
using var embedder = mlContext.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt").Fit(test);
var scoredTest = embedder.Transform(model.Transform(test));
var metrics = PromptEmbeddingEvaluator.Evaluate(scoredTest);
Console.WriteLine($"test mean cosine: {metrics.MeanCosine:F4} ± {metrics.StandardError:F4} (n = {metrics.Count})");

// What an app does: load the zip (Microsoft.ML + ImageAnalytics + OnnxTransformer are enough) and score one image.
var appContext = new MLContext();
ITransformer loaded = appContext.Model.Load(modelPath, out _);
using var loadedModel = (IDisposable)loaded;   // the loaded chain holds ONNX Runtime sessions too
using var engine = appContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(loaded);
string image = ImageFolderDataset.Read(dataDirectory, "test").Select(p => Path.Combine(dataDirectory, "test", p.FileName)).First();
var output = engine.Predict(new ModelInput { ImagePath = Path.GetFullPath(image) });
var top = Enumerable.Range(0, output.VocabularyProbabilities.Length).OrderByDescending(i => output.VocabularyProbabilities[i]).Take(5)
    .Select(i => $"{output.VocabularyWords[i]} {output.VocabularyProbabilities[i]:F2}");
Console.WriteLine($"{Path.GetFileName(image)}: {output.PredictedEmbedding.Length}-d embedding; words: {string.Join(", ", top)}");

/// <summary>The model's input: the image file path.</summary>
public sealed class ModelInput
{
    public string ImagePath { get; set; } = "";
}

/// <summary>The model's outputs: the predicted prompt embedding and the vocabulary head's words and probabilities.</summary>
public sealed class ModelOutput
{
    public float[] PredictedEmbedding { get; set; } = [];

    public float[] VocabularyProbabilities { get; set; } = [];

    public string[] VocabularyWords { get; set; } = [];
}
